#!/usr/bin/env bash
# JMH benchmarks of the page codecs (docs/benchmarks.md, "Page codecs (JMH)"): encode and decode
# GB/s per core and ratio, per codec, per page set. Builds livemig-bench/target/benchmarks.jar.
# Usage: bench/codecs.sh [extra JMH options, e.g. a benchmark regex or -p set=delta8]
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -pl livemig-compress,livemig-bench package -DskipTests -Dfuzz.skip=true
. .mvn/find-jdk.sh
java="$JAVA_HOME/bin/java"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$java" -cp livemig-bench/target/benchmarks.jar io.livemig.bench.Ratios > "$out/ratios.txt"
"$java" -jar livemig-bench/target/benchmarks.jar -f 1 -wi 3 -w 1s -i 5 -r 1s -rf json -rff "$out/jmh.json" "$@" \
  > "$out/jmh.log"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
ratio = {}
for line in open(f"{d}/ratios.txt"):
    codec, pset, r = line.split()
    ratio[(codec, pset)] = float(r)
page = 4096
speed = {}
for b in json.load(open(f"{d}/jmh.json")):
    name = b["benchmark"].rsplit(".", 1)[1]
    pset = b.get("params", {}).get("set", "text")
    gbs = b["primaryMetric"]["score"] * page / 1e9
    err = b["primaryMetric"]["scoreError"] * page / 1e9
    speed[(name, pset)] = (gbs, err)
rows = [("zero detection", "zeroDetection", None, None), ("xbzrle", "xbzrleEncode", "xbzrleDecode", "xbzrle"),
        ("lz4", "lz4Compress", "lz4Decompress", "lz4"), ("zstd -1", "zstd1Compress", None, "zstd1"),
        ("zstd -3", "zstd3Compress", "zstdDecompress", "zstd3"), ("adaptive (zero+xbzrle+lz4)", "adaptiveEncode", None, None)]
sets = ["text", "zeroheavy", "delta8", "delta5pct", "delta25pct", "random"]
print("| codec | page set | encode GB/s | decode GB/s | ratio |")
print("|---|---|---:|---:|---:|")
for label, enc, dec, rkey in rows:
    for s in sets:
        if (enc, s) not in speed:
            continue
        if enc == "zeroDetection" and s != sets[0]:
            continue
        e = "%.2f ± %.2f" % speed[(enc, s)]
        dd = "%.2f ± %.2f" % speed[(dec, s)] if dec and (dec, s) in speed else "–"
        if rkey == "xbzrle" and ratio[(rkey, s)] <= 1.0:
            dd = "– (no delta: every page too different, sent raw)"
        r = "%.2f" % ratio[(rkey, s)] if rkey else "–"
        print("| %s | %s | %s | %s | %s |" % (label, "zero pages" if enc == "zeroDetection" else s, e, dd, r))
PY
