#!/usr/bin/env bash
# New-series ingestion, Vigil then VictoriaMetrics on the same pre-encoded bodies (BENCHMARKS.md, issue 9).
# Usage (repo root, release build in .build/release): NS="1000000 250000" Benchmarks/newseries_pair.sh
# Raw lines: .build-bench/peers/newseries.jsonl (one per run; peers.sh labels both "custom": use "version").
set -u
W=.build-bench/peers; START=1796389200000
for N in ${NS:-1000000 250000}; do
for peer in vigil vm; do
  echo "== $N $peer $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $peer = vigil ]; then
    PYTHON=Benchmarks/python-lowmem.sh WORK=$W/work RESULTS=$W/newseries.jsonl QUIET_WAIT_S=0 BUSY_MAX=1 \
    SERIES=$N SPS=2 START_MS=$START CUSTOM_NAME=vigil \
    CUSTOM_START='exec .build/release/vigil serve --listen 127.0.0.1:$PORT --data $DATA --wal-fsync always --log-level warning' \
    CUSTOM_FLUSH='curl -fsS -XPOST http://127.0.0.1:$PORT/api/v1/admin/tsdb/flush' \
    CUSTOM_INGESTED_METRIC='vigil_ingested_samples_total' ../shared/bench/peers.sh "custom" 1 2>&1 | tail -4
  else
    PYTHON=Benchmarks/python-lowmem.sh WORK=$W/work RESULTS=$W/newseries.jsonl QUIET_WAIT_S=0 BUSY_MAX=1 \
    SERIES=$N SPS=2 START_MS=$START CUSTOM_NAME=victoria-metrics CUSTOM_DATA=.build-bench/vm-data CUSTOM_PORT=8428 CUSTOM_READY=/health \
    CUSTOM_START='exec victoria-metrics -storageDataPath=$DATA -httpListenAddr=127.0.0.1:$PORT -search.maxUniqueTimeseries=100000000' \
    CUSTOM_FLUSH='curl -fsS http://127.0.0.1:$PORT/internal/force_flush; sleep 5' CUSTOM_INGESTED_METRIC=vm_rows_inserted_total \
    ../shared/bench/peers.sh "custom" 1 2>&1 | tail -4
  fi
done
done
echo "== done $(date -u +%T)"
