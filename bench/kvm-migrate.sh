#!/usr/bin/env bash
# KVM guests migrated between two livemig processes on loopback (docs/benchmarks.md, issue 6):
# the built-in dirtier guest at several write rates, pre-copy with a 50 ms downtime limit.
# Usage: bench/kvm-migrate.sh [SIZES="256M 1G"] [RATES="10M 50M 200M 0"] (rate 0: unpaced)
# Builds nothing: run `./mvnw -q install -DskipTests` first. Needs /dev/kvm and binutils.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"256M 1G"}
rates=${2:-"10M 50M 200M 0"}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
port=7790
printf '| RAM | write rate | verified | rounds | total ms | downtime ms | expected ms | MB on the wire | guest ok after |\n'
printf '|---|---|---|---:|---:|---:|---:|---:|---|\n'
for mem in $sizes; do
  for rate in $rates; do
    port=$((port + 1))
    ./livemig kvm receive --insecure --listen 127.0.0.1:$port --mem "$mem" --console "$out/dst.txt" --run-after 3s --json \
      > "$out/dst.json" 2> "$out/dst.err" &
    receiver=$!
    sleep 1
    ./livemig kvm run --mem "$mem" --dirty-rate "$rate" --console "$out/src.txt" --migrate-to 127.0.0.1:$port \
      --after 3s --strategy precopy --downtime 50ms --json > "$out/src.json" 2> "$out/src.err" || true
    wait $receiver || true
    python3 - "$out" "$mem" "$rate" <<'PY'
import json, sys
d, mem, rate = sys.argv[1:]
try:
    s = json.load(open(f"{d}/src.json")); t = json.load(open(f"{d}/dst.json"))
except Exception as e:
    print(f"| {mem} | {rate} | failed: {e} |"); sys.exit()
ok = t.get("guestProgressAfterResume") and not t.get("selfCheckFailed")
print("| %s | %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %s (%s) |" % (mem, rate + "/s" if rate != "0" else "unpaced",
      s.get("verified"), s.get("rounds", 0), s.get("totalTimeMs", 0), s.get("downtimeMs", 0),
      s.get("expectedDowntimeMs", 0), s.get("bytesOnWire", 0) / 1e6, "yes" if ok else "NO", t.get("lastSelfCheck", "-")))
PY
  done
done
