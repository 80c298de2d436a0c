#!/usr/bin/env python3
"""Trace and replay against pre-copy with auto-converge on the same KVM guest (issue 16).

The built-in dirtier in its replayable mode (time from port 0xEC, idle time slept through 0xED,
no RDTSC), 1 GiB of RAM, migrated between two livemig processes over loopback at a bandwidth
cap, once with `--strategy precopy --on-stall autoconverge,force` and once with
`--strategy trace-replay`, RUNS times each, alternating. Prints one row per strategy (medians of
the runs by total time) and the guest's own progress: its writes per second before the migration
(the first --after seconds) and while it ran, from the dirtier's tick lines.

Usage: bench/trace-replay.py [--runs 3] [--mem 1G] [--rate 400M] [--working-set 128M]
                             [--bandwidth 100M] [--downtime 300ms] [--json FILE]
Builds nothing: run `./mvnw -q install -DskipTests` first. Needs /dev/kvm.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK_MS = 500  # the dirtier's default tick interval


def run_one(tmp, port, strategy, a):
    dst = subprocess.Popen([f"{ROOT}/livemig", "kvm", "receive", "--insecure", "--listen", f"127.0.0.1:{port}",
                            "--mem", a.mem, "--console", f"{tmp}/dst.txt", "--run-after", "3s", "--json"],
                           stdout=open(f"{tmp}/dst.json", "w"), stderr=open(f"{tmp}/dst.err", "w"))
    time.sleep(1.5)
    extra = ["--strategy", "precopy", "--on-stall", "autoconverge,force"] if strategy == "precopy" \
        else ["--strategy", "trace-replay"]
    subprocess.run([f"{ROOT}/livemig", "kvm", "run", "--mem", a.mem, "--replayable", "--dirty-rate", a.rate,
                    "--working-set", a.working_set, "--bytes-per-write", "4096", "--console", f"{tmp}/src.txt",
                    "--migrate-to", f"127.0.0.1:{port}", "--after", "3s", "--bandwidth", a.bandwidth,
                    "--downtime", a.downtime, "--json"] + extra,
                   stdout=open(f"{tmp}/src.json", "w"), stderr=open(f"{tmp}/src.err", "w"), timeout=600)
    dst.wait(timeout=120)
    s = json.load(open(f"{tmp}/src.json"))
    t = json.load(open(f"{tmp}/dst.json"))
    writes = [int(m.group(1)) for m in re.finditer(r"^tick \d+ writes (\d+)", open(f"{tmp}/src.txt").read(), re.M)]
    per_tick = [b - a_ for a_, b in zip([0] + writes, writes)]
    before_ticks = 3000 // TICK_MS
    during_ticks = max(1, int(s["totalTimeMs"] // TICK_MS))
    before = statistics.mean(per_tick[1:before_ticks]) * 1000 / TICK_MS if len(per_tick) > before_ticks else 0
    during = per_tick[before_ticks:before_ticks + during_ticks]
    during = statistics.mean(during) * 1000 / TICK_MS if during else 0
    return {"strategy": strategy, "status": s["status"], "verification": s["verification"],
            "totalMs": s["totalTimeMs"], "downtimeMs": s["downtimeMs"], "mb": s["bytesOnWire"] / 1e6,
            "rounds": s["rounds"], "policy": s.get("policyActions", []), "traceReplay": s.get("traceReplay"),
            "writesPerSecondBefore": before, "writesPerSecondDuring": during,
            "destinationOk": bool(t.get("guestProgressAfterResume")) and not t.get("selfCheckFailed")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--mem", default="1G")
    p.add_argument("--rate", default="400M")
    p.add_argument("--working-set", default="128M")
    p.add_argument("--bandwidth", default="100M")
    p.add_argument("--downtime", default="300ms")
    p.add_argument("--json")
    a = p.parse_args()
    runs = {"precopy": [], "trace-replay": []}
    port = 7900
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            for strategy in runs:
                port += 1
                r = run_one(tmp, port, strategy, a)
                runs[strategy].append(r)
                print(f"# {strategy} run {i + 1}: {r['status']} {r['verification']} {r['totalMs']:.0f} ms, "
                      f"downtime {r['downtimeMs']:.1f} ms, {r['mb']:.1f} MB", file=sys.stderr)
    print(f"{a.mem} guest, working set {a.working_set} written at {a.rate}/s in whole pages, "
          f"cap {a.bandwidth}/s, limit {a.downtime}; medians of {a.runs} runs by total time\n")
    print("| strategy | completed, verified, guest ok | total ms | downtime ms | MB on the wire | rounds | "
          "guest writes/s before → during | notes |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    med = {}
    for strategy, rs in runs.items():
        m = sorted(rs, key=lambda r: r["totalMs"])[len(rs) // 2]
        med[strategy] = m
        ok = all(r["status"] == "completed" and r["verification"] == "verified" and r["destinationOk"] for r in rs)
        tr = m["traceReplay"]
        note = ", ".join(m["policy"]) if strategy == "precopy" else (
            f"checkpoint {tr['checkpointBytes'] / 1e6:.1f} MB (paused {tr['checkpointPauseMs']:.1f} ms), "
            f"log {tr['logBytes']:,} B in {tr['segments']} segments ({tr['logBytesPerSecond']:,} B/s), "
            f"replay {tr['replaySpeed']:.1f}x real time")
        print(f"| {strategy} | {'all' if ok else 'NOT ALL'} | {m['totalMs']:.0f} | {m['downtimeMs']:.1f} | "
              f"{m['mb']:.1f} | {m['rounds']} | {m['writesPerSecondBefore']:,.0f} → {m['writesPerSecondDuring']:,.0f} "
              f"| {note} |")
    pc, tr = med["precopy"], med["trace-replay"]
    print(f"\ntrace and replay ÷ pre-copy: total {tr['totalMs'] / pc['totalMs']:.2f}, "
          f"downtime {tr['downtimeMs'] / pc['downtimeMs']:.2f}, bytes {tr['mb'] / pc['mb']:.3f} "
          f"({100 * (1 - tr['mb'] / pc['mb']):.1f} % fewer)")
    if a.json:
        json.dump(runs, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
