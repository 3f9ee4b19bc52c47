#!/usr/bin/env bash
# Range-query latency with and without remote_write running, at 1M active series (BENCHMARKS.md,
# "Store at a million series"). Usage: Benchmarks/mixed_run.sh vigil|vm  (from the repo root; loopback only).
#   SERIES [1000000] SPS [4] START_MS [1796389200000] CACHE [.build-bench/rw-cache] VIGIL [.build/release/vigil]
set -u
peer=$1; SERIES=${SERIES:-1000000}; SPS=${SPS:-4}; START_MS=${START_MS:-1796389200000}
CACHE=${CACHE:-.build-bench/rw-cache}; VIGIL=${VIGIL:-.build/release/vigil}
D=${SCRATCH:-.build-bench}/mixed-data-$peer; OUT=${OUT:-.build-bench/mixed}; mkdir -p "$OUT"; rm -rf "$D"; mkdir -p "$D"
if [ "$peer" = vigil ]; then
  PORT=9471; "$VIGIL" serve --listen 127.0.0.1:$PORT --data "$D" --wal-fsync always --log-level warning >"$OUT/$peer.log" 2>&1 &
  READY=/-/ready; NOCACHE=""
else
  PORT=8429; victoria-metrics -storageDataPath="$D" -httpListenAddr=127.0.0.1:$PORT -search.maxUniqueTimeseries=100000000 >"$OUT/$peer.log" 2>&1 &
  READY=/health; NOCACHE=--nocache
fi
P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 1 120); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT$READY" 2>/dev/null && break; sleep 0.5; done
END_MS=$((START_MS + (SPS - 1) * 15000))
Q="python3 Benchmarks/query_load.py --base http://127.0.0.1:$PORT --start-ms $START_MS --end-ms $END_MS --step 15 --max-queries 10000000 $NOCACHE"
rm -f "$OUT/stop"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
Benchmarks/python-lowmem.sh ../shared/bench/rw_load.py --url "http://127.0.0.1:$PORT/api/v1/write" --series "$SERIES" \
  --samples-per-series "$SPS" --batch 5000 --concurrency 4 --interval-ms 15000 --seed 1 --start-ms "$START_MS" \
  --cache "$CACHE" --quiet --json "$OUT/$peer-load.json" >/dev/null &
L=$!
sleep 3
$Q --seconds 600 --stop-file "$OUT/stop" --json "$OUT/$peer-during.json" >/dev/null &
QP=$!
wait $L; touch "$OUT/stop"; wait $QP
echo "load after ingest: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 5
$Q --seconds 30 --json "$OUT/$peer-idle.json" >/dev/null
python3 - "$OUT" "$peer" <<'PY'
import json, sys
o, p = sys.argv[1], sys.argv[2]
l = json.load(open(f"{o}/{p}-load.json")); d = json.load(open(f"{o}/{p}-during.json")); i = json.load(open(f"{o}/{p}-idle.json"))
print(json.dumps({"peer": p, "samples_per_s": l["samples_per_s"], "wall_s": l["wall_s"], "http_errors": l["http_errors"],
  "write_latency_ms": l["latency_ms"],
  "query_during": {k: d[k] for k in ("queries", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms")},
  "query_idle": {k: i[k] for k in ("queries", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms")}}))
PY
