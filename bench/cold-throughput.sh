#!/usr/bin/env bash
# Cold-migration throughput of an in-memory VM over TCP loopback (docs/benchmarks.md).
# Usage: bench/cold-throughput.sh [MEM=1G] [RUNS=5] [DEMO OPTIONS...], e.g. --rehearsals 0
# Builds nothing: run `./mvnw -q install -DskipTests` first. ./livemig starts with the build's AOT
# cache when it matches the jar; LIVEMIG_AOT=0 bench/cold-throughput.sh measures without it.
set -euo pipefail
cd "$(dirname "$0")/.."
mem=${1:-1G}
runs=${2:-5}
shift $(($# < 2 ? $# : 2))
printf '%-4s %10s %10s %10s %12s %14s %14s\n' run copy_ms total_ms downtime_ms wire_MB copy_GB_per_s total_GB_per_s
for i in $(seq 1 "$runs"); do
  ./livemig demo --strategy cold --mem "$mem" --workload idle --prefill 0.5 --json "$@" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["verified"], r
copy = r["roundsDetail"][0]["durationMs"]
mem = r["memoryBytes"]
print("%-4s %10.0f %10.0f %10.0f %12.1f %14.2f %14.2f" % (sys.argv[1], copy, r["totalTimeMs"], r["downtimeMs"],
      r["bytesOnWire"] / 1e6, mem / copy / 1e6, mem / r["totalTimeMs"] / 1e6))' "$i"
done
