#!/usr/bin/env python3
"""QEMU 7.2 against livemig on the same KVM guest (docs/benchmarks.md, issue 7).

Both migrate the built-in 'dirtier' Multiboot guest (same image, same RAM, same write rate and
bytes per write) from one process to another over TCP loopback, with the same downtime limit
and bandwidth cap, in four scenarios: pre-copy, pre-copy with XBZRLE, post-copy, and a guest
that does not converge under pre-copy (auto-converge on in both). QEMU gets its parameters on
the Multiboot command line (the guest reads them there when no parameter block is written),
livemig writes the parameter block. Prints one markdown table: total time, downtime, bytes on
the wire, for both, and the ratios livemig/QEMU.

Usage: bench/qemu-compare.py [--mem 256M] [--runs 1]
Needs: /dev/kvm, qemu-system-x86 (apt-get install qemu-system-x86), binutils, and a built
livemig (./mvnw -q install -DskipTests).
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIVEMIG = os.path.join(ROOT, "livemig")
QEMU = shutil.which("qemu-system-x86_64")
# This host's KVM (kvm-pvm) refuses QEMU's MSR 0x10a (arch capabilities); drop that feature.
CPU = "host,-arch-capabilities"

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


class Qmp:
    def __init__(self, path):
        for _ in range(100):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
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


def qemu_run(work, image, mem, scenario, port):
    s = scenario
    cmdline = "dirtier w=%d b=%d p=1 r=%d f=%d t=500 c=2000" % (working_set(mem), s["bpw"], s["rate"], s["tsc"])
    base = [QEMU, "-accel", "kvm", "-cpu", CPU, "-m", str(mem >> 20), "-nodefaults", "-display", "none",
            "-kernel", image, "-append", cmdline]
    dst = subprocess.Popen(base + ["-debugcon", f"file:{work}/qemu-dst.txt", "-qmp",
                                   f"unix:{work}/dst.sock,server=on,wait=off", "-incoming", f"tcp:127.0.0.1:{port}"],
                           stderr=subprocess.DEVNULL)
    src = subprocess.Popen(base + ["-debugcon", f"file:{work}/qemu-src.txt", "-qmp",
                                   f"unix:{work}/src.sock,server=on,wait=off"], stderr=subprocess.DEVNULL)
    try:
        qs, qd = Qmp(f"{work}/src.sock"), Qmp(f"{work}/dst.sock")
        # QEMU boots through its BIOS first, which takes seconds here (real mode is emulated on
        # this host): wait until the guest has run as long as livemig's does before migrating.
        if not wait_for(f"{work}/qemu-src.txt", "dirtier start", 60):
            raise RuntimeError("the guest did not start under QEMU")
        time.sleep(s["after"])
        caps = [{"capability": "xbzrle", "state": s["codec"] == "xbzrle"},
                {"capability": "auto-converge", "state": True},
                {"capability": "postcopy-ram", "state": s["strategy"] == "postcopy"}]
        qs.cmd("migrate-set-capabilities", capabilities=caps)
        qd.cmd("migrate-set-capabilities", capabilities=[c for c in caps if c["capability"] == "postcopy-ram"])
        qs.cmd("migrate-set-parameters", **{"downtime-limit": s["downtime_ms"], "max-bandwidth": s["bandwidth"],
                                            "xbzrle-cache-size": mem})
        qs.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        if s["strategy"] == "postcopy":
            qs.cmd("migrate-start-postcopy")
        deadline = time.time() + 300
        while time.time() < deadline:
            info = qs.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.02)
        time.sleep(3)  # let the guest run at the destination, then read its console
        console = open(f"{work}/qemu-dst.txt", errors="replace").read()
        ok = "check ok" in console and "FAILED" not in console
        return {"status": info.get("status"), "total_ms": info.get("total-time", 0),
                "downtime_ms": info.get("downtime", 0), "bytes": info.get("ram", {}).get("transferred", 0),
                "rounds": info.get("ram", {}).get("dirty-sync-count", 0), "guest_ok": ok}
    finally:
        for p in (src, dst):
            p.kill()
            p.wait()


def working_set(mem):
    # From 4 MiB up, leaving the top 28 MiB alone: QEMU's firmware keeps data there (a guest
    # writing it fails its own first check under QEMU, before any migration).
    return mem - (32 << 20)


def wait_for(path, text, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return True
        time.sleep(0.02)
    return False


def livemig_run(work, mem, scenario, port):
    s = scenario
    # Loopback, as QEMU's side of the comparison: plain TCP (--insecure), so that both move the same bytes.
    dst = subprocess.Popen([LIVEMIG, "kvm", "receive", "--insecure", "--listen", f"127.0.0.1:{port}", "--mem", str(mem),
                            "--console", f"{work}/lm-dst.txt", "--run-after", "3s", "--json"],
                           stdout=open(f"{work}/lm-dst.json", "w"), stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    args = [LIVEMIG, "kvm", "run", "--mem", str(mem), "--dirty-rate", str(s["rate"]), "--bytes-per-write",
            str(s["bpw"]), "--working-set", str(working_set(mem)), "--console", f"{work}/lm-src.txt", "--migrate-to", f"127.0.0.1:{port}",
            "--after", f"{int(s['after'] * 1000)}ms", "--strategy", s["strategy"], "--downtime",
            f"{s['downtime_ms']}ms", "--bandwidth", str(s["bandwidth"]), "--json"]
    if s["codec"]:
        args += ["--codecs", "zero," + s["codec"]]
    out = subprocess.run(args, capture_output=True, text=True)
    dst.wait(timeout=120)
    try:
        r = json.loads(out.stdout)
        d = json.load(open(f"{work}/lm-dst.json"))
    except ValueError:
        return {"status": "failed: " + out.stderr[-300:], "total_ms": 0, "downtime_ms": 0, "bytes": 0, "rounds": 0,
                "guest_ok": False}
    return {"status": r.get("status"), "total_ms": r.get("totalTimeMs", 0), "downtime_ms": r.get("downtimeMs", 0),
            "bytes": r.get("bytesOnWire", 0), "rounds": r.get("rounds", 0),
            "guest_ok": bool(d.get("guestProgressAfterResume")) and not d.get("selfCheckFailed")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    if QEMU is None:
        sys.exit("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    mem = size(a.mem)
    khz = tsc_khz()
    common = {"downtime_ms": 50, "bandwidth": 1000 * 1000 * 1000, "after": 3.0, "tsc": khz}
    scenarios = [
        ("pre-copy, 50 MB/s whole pages", dict(common, strategy="precopy", codec=None, rate=50 << 20, bpw=4096)),
        ("pre-copy + XBZRLE, 20 MB/s of 64-byte writes", dict(common, strategy="precopy", codec="xbzrle", rate=20 << 20, bpw=64)),
        ("post-copy, 50 MB/s whole pages", dict(common, strategy="postcopy", codec=None, rate=50 << 20, bpw=4096)),
        ("non-convergent: 400 MB/s, 100 MB/s cap", dict(common, strategy="precopy", codec=None, rate=400 << 20,
                                                          bpw=4096, bandwidth=100 * 1000 * 1000)),
    ]
    work = tempfile.mkdtemp(prefix="livemig-qemu-")
    image = os.path.join(work, "dirtier.bin")
    subprocess.run([LIVEMIG, "kvm", "guest", "--out", image], check=True, capture_output=True)
    print(f"guest: {a.mem} RAM, TSC {khz} kHz, downtime limit 50 ms, {a.runs} run(s) each, medians\n")
    print("| scenario | | total ms | downtime ms | MB on the wire | rounds | guest ok |")
    print("|---|---|---:|---:|---:|---:|---|")
    port = 7850
    for name, s in scenarios:
        results = {"QEMU 7.2": [], "livemig": []}
        for _ in range(a.runs):
            port += 1
            results["QEMU 7.2"].append(qemu_run(work, image, mem, s, port))
            time.sleep(1)
            port += 1
            results["livemig"].append(livemig_run(work, mem, s, port))
            time.sleep(1)
        med = {}
        for who, rs in results.items():
            rs.sort(key=lambda r: r["total_ms"])
            m = rs[len(rs) // 2]
            med[who] = m
            print("| %s | %s | %.0f | %.1f | %.1f | %s | %s%s |" % (name, who, m["total_ms"], m["downtime_ms"],
                  m["bytes"] / 1e6, m["rounds"], "yes" if m["guest_ok"] else "NO",
                  "" if m["status"] == "completed" else " (" + str(m["status"]) + ")"))
        q, l = med["QEMU 7.2"], med["livemig"]
        ratio = lambda x, y: "%.2f" % (x / y) if y else "–"
        print("| %s | livemig/QEMU | %s | %s | %s | | |" % (name, ratio(l["total_ms"], q["total_ms"]),
              ratio(l["downtime_ms"], q["downtime_ms"]), ratio(l["bytes"], q["bytes"])))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
