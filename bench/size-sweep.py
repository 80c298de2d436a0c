#!/usr/bin/env python3
"""Migration cost against VM size: QEMU 7.2 beside livemig (docs/benchmarks.md, issue 19).

For each VM size, the two guest shapes of issue 19 as bench/qemu-compare.py runs them (same
dirtier image, same parameters, TCP loopback between two processes): an idle guest (1 MiB
written slowly, no bandwidth cap) and a guest writing 256 MiB (in sequence, 8 bytes a page,
~80 MB/s dirtied, 300 ms limit). `--runs` runs of each (default 3); the median run by total time
is printed. QEMU reads every page of the VM; livemig reads only what the guest wrote, so its cost
should not grow with the size.

Usage: bench/size-sweep.py [--sizes 1G,3G,8G,16G] [--runs 3] [--json FILE] [--plot FILE.png]
       bench/size-sweep.py --from-json A.json,B.json --plot FILE.png   (plot saved runs only)
Needs what bench/qemu-compare.py needs (/dev/kvm, qemu-system-x86_64, binutils, a built
livemig); --plot needs matplotlib.
"""
import argparse, importlib.util, json, os, shutil, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("qemu_compare", os.path.join(HERE, "qemu-compare.py"))
qc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qc)

SHAPES = {
    "idle": "idle guest, no bandwidth cap",
    "256 MiB": "256 MiB written in sequence",
}


def plot(everything, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for label in SHAPES:
        rows = [e for e in everything if e["shape"] == label]
        gib = [e["bytes"] / (1 << 30) for e in rows]
        plt.plot(gib, [e["qemu_median_ms"] for e in rows], "o-", label=f"QEMU 7.2, {label}")
        plt.plot(gib, [e["livemig_median_ms"] for e in rows], "s-", label=f"livemig, {label}")
    plt.xlabel("VM size (GiB)")
    plt.ylabel("total migration time (ms, median of the runs)")
    plt.title("Migration time against VM size, two processes on one host (loopback)")
    plt.legend()
    plt.grid(True, alpha=0.3)
    plt.savefig(path, dpi=120, bbox_inches="tight")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1G,3G,8G,16G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="also write every run's figures to this file")
    ap.add_argument("--plot", help="a PNG of total time against VM size (needs matplotlib)")
    ap.add_argument("--from-json", help="measure nothing: plot (and print) the runs saved by --json in these "
                                        "comma-separated files")
    a = ap.parse_args()
    if a.from_json:
        everything = []
        for path in a.from_json.split(","):
            everything += json.load(open(path))
        everything.sort(key=lambda e: (e["bytes"], e["shape"]))
        for e in everything:
            print("| %s | %s | QEMU %.0f ms | livemig %.0f ms |" % (e["size"], e["shape"], e["qemu_median_ms"],
                                                                   e["livemig_median_ms"]))
        if a.plot:
            plot(everything, a.plot)
        return
    if qc.QEMU is None:
        sys.exit("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    tsc = qc.tsc_khz()
    work = tempfile.mkdtemp(prefix="livemig-sweep-")
    image = os.path.join(work, "dirtier.bin")
    qc.subprocess.run([qc.LIVEMIG, "kvm", "guest", "--out", image], check=True, capture_output=True)
    print(f"{a.runs} run(s) of each, median by total time\n")
    print("| VM size | guest | QEMU total ms / downtime ms / MiB | livemig total ms / downtime ms / MiB "
          "| livemig ÷ QEMU total | guest ok after (QEMU, livemig) |")
    print("|---|---|---|---|---|---|")
    port = 7950
    everything = []
    for text in a.sizes.split(","):
        mem = qc.size(text)
        shapes = dict(qc.shapes(mem))
        for label, prefix in SHAPES.items():
            name = next(n for n in shapes if n.startswith(prefix))
            s = shapes[name]
            runs = {"qemu": [], "livemig": []}
            for _ in range(a.runs):
                port += 1
                runs["qemu"].append(qc.qemu_run(work, image, mem, s, port, tsc))
                time.sleep(1)
                port += 1
                runs["livemig"].append(qc.livemig_run(work, mem, s, port, 1))
                time.sleep(1)
            (q, qn), (m, mn) = qc.median_run(runs["qemu"]), qc.median_run(runs["livemig"])
            done = lambda n: "" if n == a.runs else f" ({n} of {a.runs} completed)"
            print("| %s | %s | %.0f / %.1f / %.0f%s | %.0f / %.1f / %.0f%s | %s | %s, %s |" % (
                text, label, q["total_ms"], q["downtime_ms"], q["bytes"] / qc.MiB, done(qn),
                m["total_ms"], m["downtime_ms"], m["bytes"] / qc.MiB, done(mn),
                "%.2f" % (m["total_ms"] / q["total_ms"]) if q["total_ms"] else "–",
                "yes" if q["guest_ok"] else "NO", "yes" if m["guest_ok"] else "NO"), flush=True)
            everything.append({"size": text, "bytes": mem, "shape": label, "qemu": runs["qemu"],
                               "livemig": runs["livemig"], "qemu_median_ms": q["total_ms"],
                               "livemig_median_ms": m["total_ms"]})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)
    if a.plot:
        plot(everything, a.plot)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
