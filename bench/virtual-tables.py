#!/usr/bin/env python3
"""Virtual-time strategy comparisons for docs/benchmarks.md (issues 3, 4 and 16).

Runs `./livemig demo --virtual-time ... --json` (a 4 GiB simulated VM, half of its pages
non-zero, on a simulated 1 Gbit/s link with 1 ms latency) and prints Markdown tables. Every run
is deterministic for pre-copy and cold; post-copy and hybrid race in real time and vary a little.

The trace-and-replay table (issue 16) runs io.livemig.kit.bench.TraceReplayRun from the testkit's
test classes instead (a 1 GiB replayable simulated guest on a 100 MiB/s link; see its javadoc):
every cell is deterministic.

Usage: ./mvnw -q install -DskipTests && bench/virtual-tables.py [precopy|strategies|prepaging|tracereplay|all]
"""
import os
import json
import subprocess
import sys

LINK = ["--virtual-time", "--mem", "4G", "--link-bandwidth", "125000000", "--link-latency", "1ms", "--seed", "1"]


def run(*args):
    out = subprocess.run(["./livemig", "demo", *LINK, *args, "--json"], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr)
    return json.loads(out.stdout)


def mb(b):
    return f"{b / 1e6:,.0f}"


def precopy_table():
    print("| dirty rate | strategy | rounds | total (s) | downtime (ms) | on the wire (MB) | converged |")
    print("|---|---|---|---|---|---|---|")
    for rate in ["0", "10M", "25M", "50M", "80M", "100M", "119M", "150M", "300M"]:
        workload = ["--workload", "idle"] if rate == "0" else ["--workload", "random", "--dirty-rate", rate]
        for strategy in ["cold", "precopy"]:
            r = run("--strategy", strategy, *workload, "--on-stall", "force")
            conv = "—" if strategy == "cold" else ("forced" if r.get("forced") else "yes")
            print(f"| {rate.replace('M', ' MiB/s') if rate != '0' else 'idle'} | {strategy} | {r['rounds']} | {r['totalTimeMs'] / 1000:.2f} | {r['downtimeMs']:.1f} "
                  f"| {mb(r['bytesOnWire'])} | {conv} |")


WORKLOADS = [
    ("idle", ["--workload", "idle"]),
    ("hotcold 50 MB/s", ["--workload", "hotcold", "--dirty-rate", "50M"]),
    ("random 50 MB/s", ["--workload", "random", "--dirty-rate", "50M"]),
    ("hotcold 200 MB/s", ["--workload", "hotcold", "--dirty-rate", "200M"]),
    ("random 200 MB/s", ["--workload", "random", "--dirty-rate", "200M"]),
]


def strategies_table():
    print("| workload | strategy | total (s) | downtime (ms) | pages sent | demand faults | pre-copy rounds |")
    print("|---|---|---|---|---|---|---|")
    for name, workload in WORKLOADS:
        for strategy in ["precopy", "postcopy", "hybrid"]:
            r = run("--strategy", strategy, *workload, "--on-stall", "force")
            pages = sum(r["pagesByEncoding"].values())
            faults = r.get("demandFaults", "—")
            rounds = r["rounds"] if strategy != "postcopy" else 0
            extra = " (forced)" if r.get("forced") else ""
            print(f"| {name} | {strategy}{extra} | {r['totalTimeMs'] / 1000:.2f} | {r['downtimeMs']:.1f} | {pages:,} "
                  f"| {faults} | {rounds} |")


SEQUENTIAL = [
    # A guest that has been streaming through memory for a minute: its cursor is mid-memory.
    ("sequential 10 MB/s, warm", ["--workload", "sequential", "--dirty-rate", "10M", "--warmup", "60s"]),
    ("sequential 30 MB/s, warm", ["--workload", "sequential", "--dirty-rate", "30M", "--warmup", "60s"]),
]


def prepaging_table():
    print("| workload | pre-paging | demand faults | pages pulled | pages pushed | total (s) | vCPU blocked (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, workload in WORKLOADS[1:] + SEQUENTIAL:
        for order in ["linear", "bubbling"]:
            r = run("--strategy", "postcopy", "--prepaging", order, *workload)
            blocked = sum(r["vcpuBlockedMs"])
            print(f"| {name} | {order} | {r['demandFaults']:,} | {r['pagesPulled']:,} | {r['pagesPushed']:,} "
                  f"| {r['totalTimeMs'] / 1000:.2f} | {blocked:,.0f} |")


def kit_classpath():
    """The testkit's test classpath (compiles its tests first), for a Java main among them."""
    subprocess.run(["./mvnw", "-q", "-o", "test-compile", "-pl", "livemig-testkit", "-Dmaven.javadoc.skip=true",
                    "-Dlivemig.aot.skip=true"], check=True)
    out = os.path.abspath("livemig-testkit/target/bench-classpath.txt")
    subprocess.run(["./mvnw", "-q", "-o", "dependency:build-classpath", "-pl", "livemig-testkit",
                    "-Dmdep.includeScope=test", f"-Dmdep.outputFile={out}"], check=True)
    with open(out) as f:
        deps = f.read().strip()
    return ":".join(["livemig-testkit/target/test-classes", "livemig-testkit/target/classes", deps])


def java():
    home = os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64")
    return os.path.join(home, "bin", "java")


def trace_run(cp, strategy, write_mib, input_bps):
    out = subprocess.run([java(), "-Xmx4g", "-cp", cp, "io.livemig.kit.bench.TraceReplayRun", strategy,
                          str(write_mib), str(input_bps)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rate(bps):
    return f"{bps / 1e6:g} MB/s" if bps >= 1e6 else f"{bps / 1e3:g} KB/s"


def tracereplay_table():
    """Pre-copy once per write rate (the guest's inputs change nothing for it), then trace and
    replay at each input rate, each compared with that pre-copy row."""
    cp = kit_classpath()
    print("| writes | input | strategy | total (s) | downtime (ms) | on the wire (MB) | log (MB) | replay speed "
          "| rounds / segments | wins against pre-copy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for write_mib in [50, 200, 800]:
        p = trace_run(cp, "precopy", write_mib, 1_000)
        name = "pre-copy, auto-converge" + (" (forced)" if p.get("forced") else "")
        if "failure" in p:
            print(f"| {write_mib} MiB/s | any | {name} | failed: {p['failure'][:80]} | | | | | | |")
        else:
            print(f"| {write_mib} MiB/s | any | {name} | {p['totalMs'] / 1000:.2f} | {p['downtimeMs']:.1f} "
                  f"| {mb(p['bytesOnWire'])} | — | — | {p['rounds']} | |")
        for input_bps in [1_000, 100_000, 10_000_000, 200_000_000]:
            t = trace_run(cp, "traceReplay", write_mib, input_bps)
            if "failure" in t:
                print(f"| {write_mib} MiB/s | {rate(input_bps)} | trace & replay | failed: {t['failure'][:120]} "
                      "| | | | | | pre-copy wins |")
                continue
            wins = []
            if "failure" in p or t["totalMs"] < p["totalMs"]:
                wins.append("total")
            if "failure" in p or t["downtimeMs"] < p["downtimeMs"]:
                wins.append("downtime")
            if "failure" in p or t["bytesOnWire"] < p["bytesOnWire"]:
                wins.append("bytes")
            print(f"| {write_mib} MiB/s | {rate(input_bps)} | trace & replay | {t['totalMs'] / 1000:.2f} "
                  f"| {t['downtimeMs']:.1f} | {mb(t['bytesOnWire'])} | {t['logBytes'] / 1e6:,.2f} "
                  f"| {t['replaySpeed']:.1f}x | {t.get('segments', t['rounds'])} | {', '.join(wins) or 'none'} |")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    if which in ("precopy", "all"):
        precopy_table()
        print()
    if which in ("strategies", "all"):
        strategies_table()
        print()
    if which in ("prepaging", "all"):
        prepaging_table()
        print()
    if which in ("tracereplay", "all"):
        tracereplay_table()
