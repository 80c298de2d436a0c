#!/usr/bin/env python3
"""QEMU 7.2 against livemig on the same KVM guest (docs/benchmarks.md, issues 7 and 12).

Both migrate the built-in 'dirtier' Multiboot guest (same image, same RAM, same working set,
write pattern, rate and bytes per write) from one process to another over TCP loopback, with the
same downtime limit and bandwidth caps, in the guest shapes of issue 12: an idle guest with and
without a cap, a sequential writer with small writes (with and without XBZRLE), a guest that
does not converge without help, post-copy after the first pass with and without a cap after the
switch, and auto-converge. QEMU gets the guest's parameters on the Multiboot command line (the
guest reads them there when no parameter block is written); livemig writes the parameter block.
QEMU runs as it comes (anonymous guest RAM on transparent huge pages); `--qemu-ram 4k` disables
huge pages for it and `--qemu-ram memfd` gives it a memfd as livemig's guest RAM (`qemu_ram`
says what each does to the guest's pace on this host).

For each shape: `--runs` runs of each (default 3), the median of each figure printed for both,
and the ratios livemig / QEMU of total time, downtime, blackout and bytes. Downtime is
each one's own figure, and they end at different points: QEMU's ends on the source once it has
written its last byte (without a return path, the source does not wait for the destination);
livemig's ends when the destination's RESUMED is back at the source. The blackout is the same
measure on both sides, the guest's: from the source's pause to the destination's resume, on this
host's clock (QEMU: the STOP and RESUME events' timestamps; livemig: its report's blackout).
A QEMU guest that should write as fast as it can but crawls at its start (its console's pace;
see qemu_ram) is given the shape's time before its migration from when it stops crawling, and a
warning after the table says how long it crawled. A QEMU run whose guest still wrote less than
half as often per tick before migrating as livemig's did moved other memory than the shape
means: a warning names it, and its figures should not be compared.

Usage: bench/qemu-compare.py [--mem 1G] [--runs 3] [--only SUBSTRING] [--streams N] [--qemu-ram thp|4k|memfd]
Needs: /dev/kvm, qemu-system-x86 (apt-get install qemu-system-x86), binutils, and a built
livemig (./mvnw -q install -DskipTests).
"""
import argparse, ctypes, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIVEMIG = os.path.join(ROOT, "livemig")
QEMU = shutil.which("qemu-system-x86_64")
# This host's KVM (kvm-pvm) refuses QEMU's MSR 0x10a (arch capabilities); drop that feature.
CPU = "host,-arch-capabilities"
MiB = 1 << 20
# "No cap": QEMU's default max-bandwidth is 128 MiB/s, so it must be lifted explicitly.
UNCAPPED = 100 * 1000 * MiB
PR_SET_THP_DISABLE = 41  # linux/prctl.h
# A guest writing as fast as it can makes 15 000 writes a tick and more (4 KiB pages, first
# touches included); one that crawls at its start on this host's huge pages makes 48-1 600.
CRAWL_WRITES_PER_TICK = 10000
SLOW_START_LIMIT_S = 30

SIZES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(text):
    text = text.strip().upper()
    return int(text[:-1]) * SIZES[text[-1]] if text[-1] in SIZES else int(text)


def tsc_khz():
    # The guest paces itself by its TSC; under KVM on one host both VMMs give it the host's rate.
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return int(float(line.split(":")[1]) * 1000)
    return 2000000


def whole_ram(mem):
    # From 4 MiB up, leaving the top 28 MiB alone: QEMU's firmware keeps data there (a guest
    # writing it fails its own first check under QEMU, before any migration).
    return mem - (32 << 20)


def shapes(mem):
    """The guest shapes of issue 12, as (name, parameters)."""
    base = dict(strategy="precopy", codec=None, downtime_ms=300, bandwidth=UNCAPPED, postcopy_bandwidth=None,
                switch_after_first_pass=False, autoconverge=None, after=3.0, pattern=1)
    idle = dict(base, ws=1 * MiB, bpw=4096, rate=256 << 10)
    # 8 bytes a page, one page after the other: ~80 MB/s of pages dirtied at 156 KB/s written.
    sequential = dict(base, ws=256 * MiB, bpw=8, pattern=0, rate=156250)
    fast_pages = dict(base, ws=whole_ram(mem), bpw=4096, rate=0, downtime_ms=50, bandwidth=100 * MiB)
    return [
        ("idle guest (1 MiB written slowly), bandwidth 128 MiB/s", dict(idle, bandwidth=128 * MiB)),
        ("idle guest, no bandwidth cap", idle),
        ("256 MiB written in sequence, 8 bytes a page, ~80 MB/s dirtied, 300 ms limit, no cap", sequential),
        ("the same with XBZRLE", dict(sequential, codec="xbzrle")),
        ("8-byte writes as fast as the guest can, XBZRLE, 50 ms limit, 100 MiB/s",
         dict(base, ws=whole_ram(mem), bpw=8, rate=0, codec="xbzrle", downtime_ms=50, bandwidth=100 * MiB)),
        ("whole-page writes as fast as it can, post-copy after the first pass, 50 ms, 100 MiB/s",
         dict(fast_pages, strategy="postcopy", switch_after_first_pass=True)),
        ("the same, no cap after the switch",
         dict(fast_pages, strategy="postcopy", switch_after_first_pass=True, postcopy_bandwidth=0)),
        ("the same guest with auto-converge 20/10/99 %", dict(fast_pages, autoconverge=(20, 10, 99))),
    ]


class Qmp:
    def __init__(self, path):
        for _ in range(200):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
        self.events = []  # (name, host wall-clock seconds) of every event read so far
        json.loads(self.file.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.file.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            if "event" in reply:
                ts = reply.get("timestamp", {})
                self.events.append((reply["event"], ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6))

    def event_time(self, name):
        """The host wall-clock time of the first event of this name read so far, or None."""
        return next((t for n, t in self.events if n == name), None)


def wait_for(path, text, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return True
        time.sleep(0.02)
    return False


def guest_ok(console_path):
    console = open(console_path, errors="replace").read() if os.path.exists(console_path) else ""
    return "check ok" in console and "FAILED" not in console


def tick_steps(console_path):
    """The guest's writes in each tick on its console (its ticks are cumulative), oldest first."""
    console = open(console_path, errors="replace").read() if os.path.exists(console_path) else ""
    counts = [int(w) for w in re.findall(r"^tick \d+ writes (\d+)$", console, re.M)]
    return [b - a for a, b in zip(counts, counts[1:])]


def guest_pace(console_path):
    """The median of the guest's writes per tick on the source's console, or None."""
    steps = tick_steps(console_path)
    return statistics.median(steps) if steps else None


def last_tick_writes(console_path):
    """The guest's writes in its last tick on its console, or None."""
    steps = tick_steps(console_path)
    return steps[-1] if steps else None


def qemu_ram(mem, backing):
    """QEMU's guest RAM options and the hook that starts QEMU, for the --qemu-ram choice.

    "thp" (the default) is QEMU as it comes: anonymous guest RAM, for which it asks for
    transparent huge pages. On this host (kvm-pvm) a guest on them either crawls (48-1 600 writes a
    tick in the whole-RAM shapes) or races (45 000-4 500 000), from one boot to the next, so that
    QEMU's runs of those shapes moved 5 MiB one time and 2 GiB the next. The crawl is the guest's
    first 0.5-4.5 s (tick after tick: 352, 480, 1 200, then 376 400, 711 136), so qemu_run waits
    for its end before it counts the shape's time to the migration. "4k" starts QEMU with huge
    pages disabled for it (prctl PR_SET_THP_DISABLE, which its madvise cannot undo): 4 KiB pages,
    15 000-45 000 writes a tick, steadily, where livemig's guest (a memfd, 4 KiB pages) makes
    55 000-98 000. "memfd" gives
    QEMU a memfd like livemig's (27 000-60 000 writes a tick), but its post-copy switch on shared
    memory is not the path it takes by default (a 140 ms blackout in one run)."""
    if backing == "memfd":
        return ["-object", f"memory-backend-memfd,id=ram,size={mem >> 20}M", "-machine", "memory-backend=ram"], None
    if backing == "4k":
        return [], lambda: ctypes.CDLL(None, use_errno=True).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    return [], None


def qemu_run(work, image, mem, s, port, tsc, backing):
    for console in ("qemu-src.txt", "qemu-dst.txt"):
        if os.path.exists(f"{work}/{console}"):
            os.remove(f"{work}/{console}")
    cmdline = "dirtier w=%d b=%d p=%d r=%d f=%d t=500 c=2000" % (s["ws"], s["bpw"], s["pattern"], s["rate"], tsc)
    ram, hook = qemu_ram(mem, backing)
    base = [QEMU, "-accel", "kvm", "-cpu", CPU, "-m", str(mem >> 20), *ram, "-nodefaults",
            "-display", "none", "-kernel", image, "-append", cmdline]
    dst = subprocess.Popen(base + ["-debugcon", f"file:{work}/qemu-dst.txt", "-qmp",
                                   f"unix:{work}/dst.sock,server=on,wait=off", "-incoming", f"tcp:127.0.0.1:{port}"],
                           stderr=subprocess.DEVNULL, preexec_fn=hook)
    src = subprocess.Popen(base + ["-debugcon", f"file:{work}/qemu-src.txt", "-qmp",
                                   f"unix:{work}/src.sock,server=on,wait=off"], stderr=subprocess.DEVNULL,
                           preexec_fn=hook)
    try:
        qs, qd = Qmp(f"{work}/src.sock"), Qmp(f"{work}/dst.sock")
        # QEMU boots through its BIOS first, which takes seconds here (real mode is emulated on
        # this host): wait until the guest has run as long as livemig's does before migrating.
        if not wait_for(f"{work}/qemu-src.txt", "dirtier start", 60):
            raise RuntimeError("the guest did not start under QEMU")
        slow_start = 0.0
        if s["rate"] == 0:
            # A guest writing as fast as it can: measured from when it does (see qemu_ram).
            started = time.time()
            while time.time() - started < SLOW_START_LIMIT_S and (last_tick_writes(f"{work}/qemu-src.txt") or 0) \
                    < CRAWL_WRITES_PER_TICK:
                time.sleep(0.05)
            slow_start = time.time() - started
        time.sleep(s["after"])
        postcopy = s["strategy"] == "postcopy"
        caps = [{"capability": "xbzrle", "state": s["codec"] == "xbzrle"},
                {"capability": "auto-converge", "state": s["autoconverge"] is not None},
                {"capability": "postcopy-ram", "state": postcopy}]
        qs.cmd("migrate-set-capabilities", capabilities=caps)
        qd.cmd("migrate-set-capabilities", capabilities=[c for c in caps if c["capability"] == "postcopy-ram"])
        # QEMU wants a power of two: the largest not above the RAM (3 GiB gets 2 GiB).
        params = {"downtime-limit": s["downtime_ms"], "max-bandwidth": s["bandwidth"],
                  "xbzrle-cache-size": 1 << (mem.bit_length() - 1)}
        if postcopy:
            pc = s["bandwidth"] if s["postcopy_bandwidth"] is None else s["postcopy_bandwidth"]
            params["max-postcopy-bandwidth"] = pc
        if s["autoconverge"]:
            initial, increment, top = s["autoconverge"]
            params.update({"cpu-throttle-initial": initial, "cpu-throttle-increment": increment,
                           "max-cpu-throttle": top})
        qs.cmd("migrate-set-parameters", **params)
        qs.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        switched = False
        deadline = time.time() + 300
        info = {}
        while time.time() < deadline:
            info = qs.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            # "After the first pass": once QEMU synced the dirty log a second time.
            if postcopy and not switched and info.get("ram", {}).get("dirty-sync-count", 0) >= 2:
                qs.cmd("migrate-start-postcopy")
                switched = True
            time.sleep(0.005)
        time.sleep(3)  # let the guest run at the destination, then read its console
        # The guest's blackout: the source's STOP to the destination's RESUME, both stamped by
        # QEMU with this host's wall clock. QEMU's own "downtime" ends on the source once it has
        # written its last byte, before the destination loaded it and resumed the guest.
        qs.cmd("query-status")
        qd.cmd("query-status")
        stop, resume = qs.event_time("STOP"), qd.event_time("RESUME")
        blackout = (resume - stop) * 1000 if stop is not None and resume is not None else None
        return {"status": info.get("status"), "total_ms": info.get("total-time", 0),
                "downtime_ms": info.get("downtime", 0), "blackout_ms": blackout,
                "bytes": info.get("ram", {}).get("transferred", 0),
                "rounds": info.get("ram", {}).get("dirty-sync-count", 0), "guest_ok": guest_ok(f"{work}/qemu-dst.txt"),
                "pace": guest_pace(f"{work}/qemu-src.txt"), "slow_start_s": slow_start}
    finally:
        for p in (src, dst):
            p.kill()
            p.wait()


def livemig_run(work, mem, s, port, streams):
    # Loopback, as QEMU's side of the comparison: plain TCP (--insecure), so that both move the same bytes.
    dst = subprocess.Popen([LIVEMIG, "kvm", "receive", "--insecure", "--listen", f"127.0.0.1:{port}", "--mem", str(mem),
                            "--console", f"{work}/lm-dst.txt", "--run-after", "3s", "--json"],
                           stdout=open(f"{work}/lm-dst.json", "w"), stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    strategy = "hybrid" if s["switch_after_first_pass"] else s["strategy"]
    args = [LIVEMIG, "kvm", "run", "--mem", str(mem), "--dirty-rate", str(s["rate"]), "--bytes-per-write",
            str(s["bpw"]), "--pattern", "random" if s["pattern"] else "sequential", "--working-set", str(s["ws"]),
            "--console", f"{work}/lm-src.txt", "--migrate-to", f"127.0.0.1:{port}",
            "--after", f"{int(s['after'] * 1000)}ms", "--strategy", strategy, "--downtime", f"{s['downtime_ms']}ms",
            "--bandwidth", str(0 if s["bandwidth"] == UNCAPPED else s["bandwidth"]), "--json"]
    if s["switch_after_first_pass"]:
        args += ["--hybrid-rounds", "1"]
    if s["postcopy_bandwidth"] is not None:
        args += ["--postcopy-bandwidth", str(s["postcopy_bandwidth"])]
    if s["codec"]:
        args += ["--codecs", "zero," + s["codec"]]
    if s["autoconverge"]:
        args += ["--on-stall", "autoconverge:%d:%d:%d" % s["autoconverge"]]
    if streams > 1:
        args += ["--streams", str(streams)]
    out = subprocess.run(args, capture_output=True, text=True)
    try:
        dst.wait(timeout=120)
    except subprocess.TimeoutExpired:
        dst.kill()
    try:
        r = json.loads(out.stdout)
        d = json.load(open(f"{work}/lm-dst.json"))
    except ValueError:
        return {"status": "failed: " + out.stderr[-300:], "total_ms": 0, "downtime_ms": 0, "blackout_ms": 0,
                "bytes": 0, "rounds": 0, "guest_ok": False, "pace": guest_pace(f"{work}/lm-src.txt")}
    return {"status": r.get("status"), "total_ms": r.get("totalTimeMs", 0), "downtime_ms": r.get("downtimeMs", 0),
            "blackout_ms": r.get("blackoutMs", r.get("downtimeMs", 0)), "bytes": r.get("bytesOnWire", 0),
            "rounds": r.get("rounds", 0), "steps": r.get("switchoverStepsMs", {}),
            "dst_steps": d.get("switchoverStepsMs", {}),
            # QEMU's own downtime's end: the pause to the last byte of state written on the source.
            "sent_ms": sum(v for k, v in r.get("switchoverStepsMs", {}).items() if k != "resume_wait"),
            "guest_ok": bool(d.get("guestProgressAfterResume")) and not d.get("selfCheckFailed"),
            "pace": guest_pace(f"{work}/lm-src.txt")}


def slow_guests(name, results):
    """Warnings for QEMU runs whose guest wrote less than half as fast as livemig's before migrating:
    they moved other memory than the shape means, and their figures do not compare."""
    paces = [r["pace"] for r in results["livemig"] if r.get("pace")]
    if not paces:
        return []
    usual = statistics.median(paces)
    return [f"{name}: QEMU run {k + 1}'s guest wrote {r['pace']:.0f} times per tick before migrating, livemig's "
            f"{usual:.0f}: not comparable" for k, r in enumerate(results["qemu"])
            if r.get("pace") is not None and r["pace"] < usual / 2]


def median_run(runs):
    """Each figure's median over the completed runs (over all runs if none completed)."""
    ok = [r for r in runs if r["status"] == "completed"] or runs
    # A run whose STOP or RESUME event was not seen has no blackout: left out of that median.
    med = {k: statistics.median([r[k] for r in ok if r[k] is not None] or [0])
           for k in ("total_ms", "downtime_ms", "blackout_ms", "bytes")}
    med["guest_ok"] = all(r["guest_ok"] for r in ok)
    return med, len([r for r in runs if r["status"] == "completed"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="run only the shapes whose name contains this (or one of "
                                                 "several, separated by |)")
    ap.add_argument("--streams", type=int, default=1, help="livemig's parallel streams")
    ap.add_argument("--json", help="also write every run's figures to this file")
    ap.add_argument("--qemu-ram", choices=["thp", "4k", "memfd"], default="thp",
                    help="QEMU's guest RAM: its anonymous memory with transparent huge pages, as QEMU comes "
                         "(default), the same in 4 KiB pages, or a memfd as livemig's (see qemu_ram)")
    a = ap.parse_args()
    if QEMU is None:
        sys.exit("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    mem = size(a.mem)
    tsc = tsc_khz()
    work = tempfile.mkdtemp(prefix="livemig-qemu-")
    image = os.path.join(work, "dirtier.bin")
    subprocess.run([LIVEMIG, "kvm", "guest", "--out", image], check=True, capture_output=True)
    print(f"guest: {a.mem} RAM, TSC {tsc} kHz, {a.runs} run(s) of each, medians of each figure; "
          f"livemig streams: {a.streams}; QEMU's guest RAM: {a.qemu_ram}\n")
    print("| guest and settings | QEMU total ms / downtime ms (blackout) / MiB "
          "| livemig total ms / downtime ms (blackout) / MiB "
          "| livemig ÷ QEMU (total / downtime / blackout / bytes) | guest ok after (QEMU, livemig) |")
    print("|---|---|---|---|---|")
    port = 7850
    everything = []
    warnings = []
    for name, s in shapes(mem):
        if a.only and not any(part in name for part in a.only.split("|")):
            continue
        results = {"qemu": [], "livemig": []}
        for _ in range(a.runs):
            port += 1
            results["qemu"].append(qemu_run(work, image, mem, s, port, tsc, a.qemu_ram))
            time.sleep(1)
            port += 1
            results["livemig"].append(livemig_run(work, mem, s, port, a.streams))
            time.sleep(1)
        (q, qn), (m, mn) = median_run(results["qemu"]), median_run(results["livemig"])
        ratio = lambda x, y: "%.2f" % (x / y) if y else "–"
        done = lambda n: "" if n == a.runs else f" ({n} of {a.runs} completed)"
        print("| %s | %.0f / %.1f (%.1f) / %.0f%s | %.0f / %.1f (%.1f) / %.0f%s | %s / %s / %s / %s | %s, %s |" % (
            name, q["total_ms"], q["downtime_ms"], q["blackout_ms"], q["bytes"] / MiB, done(qn),
            m["total_ms"], m["downtime_ms"], m["blackout_ms"], m["bytes"] / MiB, done(mn),
            ratio(m["total_ms"], q["total_ms"]), ratio(m["downtime_ms"], q["downtime_ms"]),
            ratio(m["blackout_ms"], q["blackout_ms"]), ratio(m["bytes"], q["bytes"]), "yes" if q["guest_ok"] else "NO", "yes" if m["guest_ok"] else "NO"),
            flush=True)
        everything.append({"shape": name, "qemu": results["qemu"], "livemig": results["livemig"]})
        slow = [r["slow_start_s"] for r in results["qemu"] if r.get("slow_start_s", 0) >= 0.5]
        if slow:
            warnings.append(f"{name}: QEMU's guest crawled at its start in {len(slow)} run(s), for "
                            + ", ".join("%.1f s" % t for t in slow) + ": their migrations began that much later")
        warnings += slow_guests(name, results)
    for w in warnings:
        print("\nwarning: " + w if w is warnings[0] else "warning: " + w)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
