#!/usr/bin/env bash
# Issue 15's device benchmark (docs/benchmarks.md, "Devices: iterative device state and
# pass-through failover"): prints Markdown tables.
#  - devices:  a device with 256 MiB of state, rewritten at 0, 16 and 64 MiB/s, in a 256 MiB VM,
#              pre-copied over a simulated 1 Gbit/s link with 1 ms latency (virtual time,
#              deterministic), supporting PRE_COPY (iterative) or only the mandatory states (its
#              whole state in the downtime);
#  - failover: the kit's fake net_failover pair failed over under the pass-through policy, guest
#              acknowledgement 10/50/200 ms (real time, in-memory channel).
# Builds livemig-bench/target/benchmarks.jar (and the modules it needs) first; --no-build skips it.
# Usage: bench/devices.sh [--no-build] [devices|failover|all]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--no-build" ]]; then
  shift
else
  ./mvnw -q -o -pl livemig-bench -am package -DskipTests -Dfuzz.skip=true -Dmaven.javadoc.skip=true >&2
fi
. .mvn/find-jdk.sh
exec "$JAVA_HOME/bin/java" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -cp livemig-bench/target/benchmarks.jar io.livemig.bench.DeviceStateBench "${1:-all}"
