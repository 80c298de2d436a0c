#!/usr/bin/env python3
"""dsync's comparison on livemig (docs/benchmarks.md, issue 14): an image synced to a stale copy.

A 4 GiB image of random bytes is copied once with `livemig disk` (which pairs the source's change
log with the copy: the replica). Then, for each share of blocks changed (0.1 %, 1 %, 10 % by
default), the same change (random 4 KiB blocks written through the image's change log by
io.livemig.bench.DiskWriter, seeded) is synced to a copy of the previous state, side by side:

  - livemig, bitmap sync: to the replica; only the blocks the change log holds travel;
  - livemig, digest sync: to a copy of the previous state without its change log; the copy sends
    a digest (xxHash64) of every block, the source the blocks that differ;
  - rsync --inplace --no-whole-file (Debian's rsync) to a copy of the previous state, through an
    rsync daemon on 127.0.0.1 (so the transfer goes through TCP and the delta algorithm runs),
    with rsync's own block size (about sqrt(file size), at most 128 KiB) and with -B 4096;
  - a full copy: livemig to a missing file, and dd conv=fdatasync as the baseline.

Every livemig sync runs without its final verification (--no-verify, as dsync and rsync have none
beyond their own); one row shows the bitmap sync with it. After every run the two files are
compared with cmp (not timed).

For each: wall time of the sending command (the receiving side, livemig's `disk receive` or the
rsync daemon, is started before and waits), bytes on the wire (livemig: bytesOnWire of its report,
the forward stream; the digests going back are counted as 8 bytes a block; rsync: its --stats
"Total bytes sent" and "received"), and CPU seconds (user + system) of both processes, from
wait4(2) (the rsync daemon's CPU includes the child it forked for the transfer). livemig's figures
include its two JVMs' start-up; the row "nothing changed" shows that fixed cost.

Usage: bench/disk-sync.py [--size 4G] [--percents 0.1,1,10] [--dir DIR] [--json OUT] [--build]
Needs: rsync (apt-get install rsync), cmp, dd, and a built livemig (./mvnw -q install -DskipTests;
--build runs it). About 5 times --size of free space in --dir (default: a new directory in /tmp).
"""
import argparse, json, os, platform, re, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIVEMIG = os.path.join(ROOT, "livemig")
CLI_JAR = os.path.join(ROOT, "examples", "target", "livemig.jar")
BENCH_JAR = os.path.join(ROOT, "livemig-bench", "target", "benchmarks.jar")
BLOCK = 4096
MiB = 1 << 20
SIZES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(text):
    text = text.strip().upper()
    return int(text[:-1]) * SIZES[text[-1]] if text[-1] in SIZES else int(text)


def java():
    out = subprocess.run(["sh", "-c", ". .mvn/find-jdk.sh && printf %s \"$JAVA_HOME\""], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return os.path.join(out.stdout, "bin", "java")


def build(force):
    if force or not os.path.exists(CLI_JAR) or not os.path.exists(BENCH_JAR):
        print("building livemig (./mvnw -q install -DskipTests) ...", flush=True)
        subprocess.run([os.path.join(ROOT, "mvnw"), "-q", "install", "-DskipTests"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reap(proc, timeout=3600):
    """Waits for proc with wait4(2): (exit code, CPU seconds of it and the children it waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{proc.args[0]} did not finish in {timeout} s")
        time.sleep(0.002)


def wait_for_text(path, text, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        time.sleep(0.01)
    raise RuntimeError(f"'{text}' never appeared in {path}: {open(path, errors='replace').read()[-500:]}")


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def same(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def remove(*paths):
    for p in paths:
        for f in (p, p + ".dsync"):
            if os.path.exists(f):
                os.remove(f)


def rename(src, dst):
    """Moves an image and its change log (the sidecar does not name its image)."""
    remove(dst)
    os.rename(src, dst)
    if os.path.exists(src + ".dsync"):
        os.rename(src + ".dsync", dst + ".dsync")


def copy_image(src, dst):
    remove(dst)
    subprocess.run(["cp", "--sparse=never", src, dst], check=True)


def random_image(path, nbytes):
    with open(path, "wb") as f:
        for _ in range(nbytes // MiB):
            f.write(os.urandom(MiB))


def livemig_sync(work, src, dst, create_bytes=None, verify=False):
    port = free_port()
    recv_out, recv_err = os.path.join(work, "recv.json"), os.path.join(work, "recv.err")
    args = [LIVEMIG, "disk", "receive", "--insecure", "--listen", f"127.0.0.1:{port}", "--image", dst, "--json"]
    if create_bytes:
        args += ["--size", str(create_bytes)]
    receiver = subprocess.Popen(args, stdout=open(recv_out, "w"), stderr=open(recv_err, "w"))
    try:
        wait_for_text(recv_err, "listening on")
        send_out = os.path.join(work, "send.json")
        args = [LIVEMIG, "disk", "send", "--image", src, "--to", f"127.0.0.1:{port}", "--json"]
        if not verify:
            args.append("--no-verify")
        start = time.monotonic()
        sender = subprocess.Popen(args, stdout=open(send_out, "w"), stderr=subprocess.DEVNULL)
        s_exit, s_cpu = reap(sender)
        wall = time.monotonic() - start
        r_exit, r_cpu = reap(receiver)
    finally:
        if receiver.returncode is None:
            receiver.kill()
            reap(receiver)
    if s_exit != 0 or r_exit != 0:
        raise RuntimeError(f"livemig disk sync failed ({s_exit}, {r_exit}): {open(send_out).read()[-500:]} "
                           f"{open(recv_err).read()[-500:]}")
    s = json.load(open(send_out))
    back = (os.path.getsize(src) // BLOCK) * 8 if s["mode"] == "digests" else 0
    return {"wall_s": wall, "engine_ms": s["totalMs"], "bytes_forward": s["bytesOnWire"], "bytes_back": back,
            "cpu_source_s": s_cpu, "cpu_destination_s": r_cpu, "mode": s["mode"], "blocks_sent": s["blocksSent"],
            "zero_blocks_sent": s["zeroBlocksSent"], "blocks_unchanged": s["blocksUnchanged"],
            "verification": s["verification"]}


STAT = re.compile(r"^(Total bytes sent|Total bytes received|Literal data|Matched data): ([\d,]+)", re.M)


def rsync_sync(work, src, dst, extra=()):
    """rsync src to dst (which holds the previous state) through a daemon of its own on 127.0.0.1."""
    port = free_port()
    conf = os.path.join(work, "rsyncd.conf")
    with open(conf, "w") as f:
        f.write(f"use chroot = no\npid file = {work}/rsyncd.pid\n[bench]\n  path = {os.path.dirname(dst)}\n"
                f"  read only = no\n  uid = {os.getuid()}\n  gid = {os.getgid()}\n")
    daemon = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={port}",
                               "--address=127.0.0.1", f"--log-file={work}/rsyncd.log"])
    try:
        wait_for_port(port)
        start = time.monotonic()
        client = subprocess.Popen(["rsync", "--inplace", "--no-whole-file", "--stats", *extra, src,
                                   f"rsync://127.0.0.1:{port}/bench/{os.path.basename(dst)}"],
                                  stdout=subprocess.PIPE, text=True)
        out = client.stdout.read()
        c_exit, c_cpu = reap(client)
        wall = time.monotonic() - start
        time.sleep(0.5)  # the daemon reaps the child it forked for the transfer (its CPU counts in the daemon's)
        daemon.send_signal(signal.SIGTERM)
        d_exit, d_cpu = reap(daemon)
    finally:
        if daemon.returncode is None:
            daemon.kill()
            reap(daemon)
    if c_exit != 0:
        raise RuntimeError(f"rsync failed ({c_exit}): {out[-500:]}")
    stats = {k: int(v.replace(",", "")) for k, v in STAT.findall(out)}
    return {"wall_s": wall, "bytes_forward": stats["Total bytes sent"], "bytes_back": stats["Total bytes received"],
            "cpu_source_s": c_cpu, "cpu_destination_s": d_cpu, "literal_bytes": stats["Literal data"],
            "matched_bytes": stats["Matched data"]}


def dd_copy(src, dst):
    remove(dst)
    start = time.monotonic()
    p = subprocess.Popen(["dd", f"if={src}", f"of={dst}", "bs=4M", "conv=fdatasync", "status=none"])
    code, cpu = reap(p)
    wall = time.monotonic() - start
    if code != 0:
        raise RuntimeError("dd failed")
    return {"wall_s": wall, "bytes_forward": 0, "bytes_back": 0, "cpu_source_s": cpu, "cpu_destination_s": 0.0}


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // (1 << 20) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    jdk = subprocess.run([java(), "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    rsync = subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": mem, "kernel": platform.release(), "jdk": jdk,
            "rsync": rsync, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def row(name, r, extra=""):
    mib = lambda b: "%.1f" % (b / MiB)
    back = mib(r["bytes_back"]) if r["bytes_back"] else "0"
    engine = " (%.0f)" % r["engine_ms"] if "engine_ms" in r else ""
    print("| %s | %.2f%s | %s | %s | %.2f + %.2f = %.2f | %s |" % (
        name, r["wall_s"], engine, mib(r["bytes_forward"]), back, r["cpu_source_s"], r["cpu_destination_s"],
        r["cpu_source_s"] + r["cpu_destination_s"], extra), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="4G", help="image size (default 4G)")
    ap.add_argument("--percents", default="0.1,1,10", help="shares of blocks changed, in %% (default 0.1,1,10)")
    ap.add_argument("--dir", help="work directory (default: a new one in /tmp, removed at the end)")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--json", help="also write every run's figures to this file")
    ap.add_argument("--build", action="store_true", help="build livemig first")
    a = ap.parse_args()
    if shutil.which("rsync") is None:
        sys.exit("rsync is missing: apt-get install -y rsync")
    build(a.build)
    nbytes = size(a.size)
    blocks = nbytes // BLOCK
    work = a.dir or tempfile.mkdtemp(prefix="livemig-disk-sync-")
    os.makedirs(work, exist_ok=True)
    free = shutil.disk_usage(work).free
    if free < 5 * nbytes + (1 << 30):
        sys.exit(f"{work} has {free >> 30} GiB free, the runs need about {(5 * nbytes >> 30) + 1} GiB: "
                 f"use --dir elsewhere or a smaller --size")
    rsync_dir = os.path.join(work, "rsync")
    os.makedirs(rsync_dir, exist_ok=True)
    src, rep, prev = (os.path.join(work, n) for n in ("source.img", "replica.img", "previous.img"))
    info = machine()
    print(f"{info['date']}: {a.size} image ({blocks} blocks of 4 KiB), {info['cpu']} x {info['cores']}, "
          f"{info['memory_gib']} GiB, Linux {info['kernel']}, {info['jdk']}, {info['rsync']}; work dir {work}",
          flush=True)
    results = {"machine": info, "size_bytes": nbytes, "levels": []}
    try:
        t = time.monotonic()
        random_image(src, nbytes)
        print(f"source image written in {time.monotonic() - t:.1f} s", flush=True)
        first = livemig_sync(work, src, rep, create_bytes=nbytes)
        assert same(src, rep), "the first copy differs"
        results["initial_copy"] = first
        print("\n| sync | wall s (livemig in-engine ms) | MiB forward | MiB back | CPU s source + destination = total "
              "| blocks sent / rsync literal MiB |")
        print("|---|---|---|---|---|---|")
        row("first copy, livemig to a missing file", first, "%d" % first["blocks_sent"])
        idle = livemig_sync(work, src, rep)
        results["nothing_changed"] = idle
        row("nothing changed, livemig bitmap", idle, "%d" % idle["blocks_sent"])
        for i, percent in enumerate(float(p) for p in a.percents.split(",")):
            changed = max(1, round(blocks * percent / 100))
            level = {"percent": percent, "blocks_changed": changed}
            copy_image(rep, prev)  # the previous state, for the digest sync and rsync
            out = subprocess.run([java(), "-cp", BENCH_JAR, "io.livemig.bench.DiskWriter", src, str(changed),
                                  str(a.seed + i)], capture_output=True, text=True, check=True).stdout.strip()
            print(f"| **{percent:g} % changed: {changed} blocks** ({out}) | | | | | |", flush=True)

            r = level["bitmap"] = livemig_sync(work, src, rep)
            assert r["mode"] == "change_log" and same(src, rep), r
            row("livemig bitmap (change log)", r, "%d" % r["blocks_sent"])

            dig = os.path.join(work, "digest.img")
            copy_image(prev, dig)
            try:
                r = level["digest"] = livemig_sync(work, src, dig)
                assert r["mode"] == "digests" and same(src, dig), r
                row("livemig digests (copy without its change log)", r, "%d" % r["blocks_sent"])
            except RuntimeError as e:
                # The full copy below pairs the source's log with a copy again, so the levels go on.
                level["digest"] = {"failed": str(e)}
                print("| livemig digests (copy without its change log) | failed: %s | | | | |"
                      % " ".join(str(e).split())[-300:], flush=True)
            remove(dig)

            for name, extra in (("rsync", ()), ("rsync_b4096", ("-B", "4096"))):
                target = os.path.join(rsync_dir, "copy.img")
                copy_image(prev, target)
                r = level[name] = rsync_sync(work, src, target, extra)
                assert same(src, target), name
                row("rsync --inplace --no-whole-file" + (" -B 4096" if extra else ""), r,
                    "%.1f" % (r["literal_bytes"] / MiB))
                remove(target)

            remove(prev)
            full = os.path.join(work, "full.img")
            remove(full)
            r = level["full_livemig"] = livemig_sync(work, src, full, create_bytes=nbytes)
            assert r["mode"] == "new_disk" and same(src, full), r
            row("full copy, livemig to a missing file", r, "%d" % r["blocks_sent"])
            rename(full, rep)  # paired with the source again

            r = level["dd"] = dd_copy(src, os.path.join(work, "dd.img"))
            row("full copy, dd bs=4M conv=fdatasync (local)", r)
            remove(os.path.join(work, "dd.img"))
            results["levels"].append(level)
        # The bitmap sync with its final verification (every block's digest on both sides), 1 % changed.
        subprocess.run([java(), "-cp", BENCH_JAR, "io.livemig.bench.DiskWriter", src, str(round(blocks / 100)),
                        str(a.seed + 100)], capture_output=True, text=True, check=True)
        r = results["bitmap_verified"] = livemig_sync(work, src, rep, verify=True)
        assert r["verification"] == "verified" and same(src, rep), r
        row("livemig bitmap with verification (1 % changed again)", r, "%d" % r["blocks_sent"])
    finally:
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        if not a.dir:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for level in results["levels"]:
        b, rs = level["bitmap"], level["rsync"]
        print("%g %% changed: rsync / livemig bitmap, wall time %.1fx, CPU %.1fx, bytes %.1fx" % (
            level["percent"], rs["wall_s"] / b["wall_s"],
            (rs["cpu_source_s"] + rs["cpu_destination_s"]) / (b["cpu_source_s"] + b["cpu_destination_s"]),
            (rs["bytes_forward"] + rs["bytes_back"]) / (b["bytes_forward"] + b["bytes_back"])))


if __name__ == "__main__":
    main()
