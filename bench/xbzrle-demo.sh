#!/usr/bin/env bash
# XBZRLE against raw pages on a write-heavy guest (docs/benchmarks.md, issue 5): the same
# pre-copy run of a 1 GiB in-memory VM (random 8-byte writes at 100 MiB/s) over TCP loopback,
# without and with --codecs zero,xbzrle, and the bytes each sends in rounds >= 1.
# Usage: bench/xbzrle-demo.sh [ENCODER_THREADS=1]
# Builds nothing: run `./mvnw -q install -DskipTests` first.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(demo --strategy precopy --mem 1G --workload random --dirty-rate 100M --bytes-per-write 8
        --encoder-threads "$threads" --json)
./livemig "${common[@]}" --codecs zero > "$out/raw.json" 2>/dev/null
./livemig "${common[@]}" --codecs zero,xbzrle > "$out/xbzrle.json" 2>/dev/null
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
rows = {}
print("%-7s %8s %6s %11s %11s %14s %14s %10s" % ("codecs", "verified", "rounds", "total_ms", "downtime_ms",
      "wire_MB", "rounds>=1_MB", "throttle%"))
for name in ("raw", "xbzrle"):
    r = json.load(open(f"{d}/{name}.json"))
    later = sum(x["bytesOnWire"] for x in r["roundsDetail"] if x["round"] >= 1)
    rows[name] = later
    print("%-7s %8s %6d %11.0f %11.1f %14.1f %14.1f %10d" % (name, r["verified"], r["rounds"], r["totalTimeMs"],
          r["downtimeMs"], r["bytesOnWire"] / 1e6, later / 1e6, r["roundsDetail"][-1]["throttlePercent"]))
    if name == "xbzrle":
        pages = r["pagesByEncoding"]
        print("        pages by encoding %s, %d dirtied but unchanged (not sent), bytes saved %.1f MB"
              % (pages, r["unchangedPages"], r["bytesSaved"] / 1e6))
print("xbzrle sends %.1f %% of the raw run's bytes in rounds >= 1" % (100.0 * rows["xbzrle"] / rows["raw"]))
PY
