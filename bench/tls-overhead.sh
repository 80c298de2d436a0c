#!/usr/bin/env bash
# What mutual TLS costs against plain TCP (docs/benchmarks.md, issue 13): livemig demo over
# loopback, both ends in one process, the two transports alternating run by run.
# Usage: bench/tls-overhead.sh [cold|precopy] [MEM=1G] [RUNS=5]
# Builds nothing: run `./mvnw -q install -DskipTests` first.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-cold}
mem=${2:-1G}
runs=${3:-5}
case "$kind" in
  cold) args=(--strategy cold) ;;
  precopy) args=(--strategy precopy --workload random --dirty-rate 50M --downtime 30ms) ;;
  *) echo "usage: $0 [cold|precopy] [MEM] [RUNS]" >&2; exit 2 ;;
esac
printf '%-4s %-9s %9s %9s %12s %13s %12s %7s %9s\n' run transport copy_ms total_ms copy_GB_per_s total_GB_per_s downtime_ms rounds wire_MB
for i in $(seq 1 "$runs"); do
  for transport in tcp tls; do
    ./livemig demo --mem "$mem" "${args[@]}" --transport "$transport" --json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["verified"], r
copy = r["roundsDetail"][0]["durationMs"]
mem = r["memoryBytes"]
print("%-4s %-9s %9.0f %9.0f %12.2f %13.2f %12.1f %7d %9.1f" % (sys.argv[1], r["transport"], copy, r["totalTimeMs"],
      mem / copy / 1e6, mem / r["totalTimeMs"] / 1e6, r["downtimeMs"], r["rounds"], r["bytesOnWire"] / 1e6))' "$i"
  done
done
