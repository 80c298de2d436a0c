#!/usr/bin/env bash
# CPU seconds per GB that a loopback channel costs, sender and receiver apart: plain TCP, TLS
# after its warm-up, TLS in a fresh JVM (docs/benchmarks.md, issue 13). One JVM per run.
# Usage: bench/tls-channel-cpu.sh [MIB=3072] [RUNS=3]
# Builds nothing: run `./mvnw -q install -DskipTests` first.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-3072}
runs=${2:-3}
set -f
. .mvn/find-jdk.sh
for i in $(seq 1 "$runs"); do
  for mode in tcp tls tls-cold; do
    size=$mib
    [ "$mode" = tls-cold ] && size=1024 # the first GiB is the one a warm-up saves
    "$JAVA_HOME/bin/java" -cp examples/target/livemig.jar io.livemig.examples.cli.ChannelCpu "$mode" "$size" 2>/dev/null
  done
done
