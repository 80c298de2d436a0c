#!/usr/bin/env python3
"""A KVM guest with a disk it keeps writing, migrated live between two processes (issue 14).

The built-in 'dirtier' guest, with --mem of RAM and a new --disk-size virtio-blk disk it writes in
random 4 KiB blocks at --disk-rate (and its memory at 1 MB/s), is migrated over TCP loopback by
`livemig kvm run --disk` into `livemig kvm receive --disk`, in these shapes:

  precopy          pre-copy, background disk copy, into a new image
  postcopy         post-copy (disks are copied before its pause), into a new image
  write-blocking   pre-copy with --disk-copy-mode write-blocking, into a new image
  stale-copy       pre-copy into an older copy of the disk (the previous run's destination image,
                   as a nightly copy would be): compared by digest, only what differs travels

For each: --runs runs, the median (by total time) printed: total time, downtime, bytes on the
wire, the disk's blocks sent and left unchanged, its sync mode, the blocks sent in the pause, and
whether verification (every page and block) passed and the guest's disk check went on at the
destination.

Usage: bench/kvm-disk.py [--mem 1G] [--disk-size 1G] [--disk-rate 20M] [--runs 3] [--json OUT]
Needs: /dev/kvm, binutils, and a built livemig (./mvnw -q install -DskipTests).
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIVEMIG = os.path.join(ROOT, "livemig")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one(work, shape, args, stale):
    src = os.path.join(work, "src.img")
    dst = os.path.join(work, "dst.img")
    for f in (src, src + ".dsync"):
        if os.path.exists(f):
            os.remove(f)
    if stale:
        # The previous run's destination image: same size, other content, no shared generation.
        shutil.copyfile(stale, dst)
    else:
        for f in (dst, dst + ".dsync"):
            if os.path.exists(f):
                os.remove(f)
    port = free_port()
    recv = subprocess.Popen([LIVEMIG, "kvm", "receive", "--insecure", "--listen", f"127.0.0.1:{port}",
                             "--mem", args.mem, "--disk", dst, "--run-after", "3s", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    cmd = [LIVEMIG, "kvm", "run", "--mem", args.mem, "--dirty-rate", "1M", "--working-set", "16M",
           "--disk", src, "--disk-size", args.disk_size, "--disk-rate", args.disk_rate,
           "--migrate-to", f"127.0.0.1:{port}", "--after", "3s", "--json",
           "--strategy", "postcopy" if shape == "postcopy" else "precopy"]
    if shape == "write-blocking":
        cmd += ["--disk-copy-mode", "write-blocking"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out, err = recv.communicate(timeout=300)
    source = json.loads(run.stdout)
    dest = json.loads(out)
    disk = source["disks"][0]
    return {
        "shape": shape,
        "status": source["status"],
        "verified": source["verified"],
        "totalMs": source["totalTimeMs"],
        "downtimeMs": source["downtimeMs"],
        "bytesOnWire": source["bytesOnWire"],
        "sync": disk["sync"],
        "blocksSent": disk["blocksSent"] + disk["zeroBlocksSent"],
        "blocksUnchanged": disk["blocksUnchanged"],
        "blocksInPause": disk["blocksPerRound"][-1] if disk["blocksPerRound"] else 0,
        "checkedBlocks": source.get("checkedBlocks", 0),
        "diskCheckAfter": dest.get("lastDiskCheck"),
        "guestRuns": dest.get("guestProgressAfterResume"),
    }, dst


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mem", default="1G")
    p.add_argument("--disk-size", default="1G")
    p.add_argument("--disk-rate", default="20M")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="livemig-kvm-disk-")
    results = []
    try:
        previous = None
        for shape in ("precopy", "postcopy", "write-blocking", "stale-copy"):
            runs = []
            for _ in range(args.runs):
                stale = None
                if shape == "stale-copy":
                    stale = os.path.join(work, "stale.img")
                    shutil.copyfile(previous, stale)
                r, dst = one(work, shape, args, stale)
                runs.append(r)
                if shape == "precopy":
                    previous = os.path.join(work, "previous.img")
                    shutil.copyfile(dst, previous)
            runs.sort(key=lambda r: r["totalMs"])
            median = dict(runs[len(runs) // 2])
            median["runs"] = runs
            results.append(median)
            print(f"{shape:15} {median['status']:9} verified={median['verified']} total {median['totalMs']:8.0f} ms "
                  f"downtime {median['downtimeMs']:6.1f} ms {median['bytesOnWire'] / 1e6:8.1f} MB "
                  f"{median['sync']:8} blocks sent {median['blocksSent']:7} unchanged {median['blocksUnchanged']:7} "
                  f"in pause {median['blocksInPause']:5} | {median['diskCheckAfter']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
