#!/usr/bin/env bash
# `make demo`: build Vigil in release mode, start `vigil serve` on ./demo-data with the host collector, the
# libvirt collector (in-process test:///default driver) and the online forecaster, replay a real VM CPU trace
# (Datasets/demo_vm_cpu_5m.csv) through remote_write, wait until forecasts, anomaly scores and saturation
# probabilities exist (one forecaster tick writes all three), then print where to look. Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${VIGIL_DEMO_PORT:-9470}"
DATA="${VIGIL_DEMO_DATA:-./demo-data}"
BIN=.build/release/vigil
URL="http://127.0.0.1:$PORT"

echo "==> building vigil (release; the first build takes several minutes)"
swift build -c release --product vigil

# A directory left by an older Vigil with another on-disk format is demo data: set it aside, don't fail.
if [ -f "$DATA/vigil.db" ] && ! "$BIN" tsdb stats --data "$DATA" >/dev/null 2>&1; then
    old="$DATA.old-$(date +%s)"
    echo "==> $DATA is not readable by this build (older format?); moved to $old"
    mv "$DATA" "$old"
fi
mkdir -p "$DATA"
pids=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "==> stopping"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    echo "stopped; data kept in $DATA (remove it for a fresh demo)"
}
trap cleanup INT TERM EXIT

echo "==> starting vigil serve on $URL (data in $DATA, log in $DATA/serve.log)"
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" --config scripts/demo-vigil.yml --host-collector \
    > "$DATA/serve.log" 2>&1 &
pids+=($!)
for i in $(seq 1 100); do
    curl -fsS "$URL/-/ready" > /dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || { echo "vigil serve exited; see $DATA/serve.log"; tail -20 "$DATA/serve.log"; exit 1; }
    sleep 0.2
done

echo "==> replaying Datasets/demo_vm_cpu_5m.csv (30 real VMs, 3 days of 5-minute CPU) shifted to end now"
"$BIN" replay --input Datasets/demo_vm_cpu_5m.csv --url "$URL/api/v1/write" \
    --metric vm_cpu_usage_percent --label vm --job demo

echo "==> waiting for the online forecaster (first forecasts within a minute)"
ok=""
for i in $(seq 1 90); do
    if "$BIN" query --url "$URL" 'count(vigil_forecast)' 2>/dev/null | grep -qE '[0-9]+$'; then ok=1; break; fi
    sleep 1
done
[ -n "$ok" ] || echo "   (no forecasts yet; see $DATA/serve.log)"

"$BIN" replay --input Datasets/demo_vm_cpu_5m.csv --url "$URL/api/v1/write" \
    --metric vm_cpu_usage_percent --label vm --job demo --follow --end "$(date +%s)" > "$DATA/replay.log" 2>&1 &
pids+=($!)

cat <<MSG

Vigil is running at $URL
  Prometheus-compatible API: $URL/api/v1/query   self-metrics: $URL/metrics
  Grafana: add a data source of type "Prometheus" with URL $URL (no auth), then explore the queries below.

Try:
  $BIN query --url $URL 'vm_cpu_usage_percent{vm="vm3"}'                    # actual CPU % now
  $BIN query --url $URL 'vigil_forecast{vm="vm3"}'                          # forecast for 1h ahead: median and 95th percentile
  $BIN query --url $URL 'topk(5, max_over_time(vigil_anomaly_score{job="demo"}[1h]))'   # most anomalous VMs
  $BIN query --url $URL 'topk(5, vigil_failure_probability{kind="saturation"})'        # VMs most likely to saturate within 1h
  $BIN query --url $URL '{__name__=~"libvirt_domain_info_.+"}'              # libvirt collector (test:///default driver)
Forecasts are stamped at their origin; once the demo has run for an hour, compare actual and forecast with
  $BIN query --url $URL --start -1h --step 5m 'vigil_forecast{vm="vm3", quantile="0.5"} offset 1h'

Press Ctrl-C to stop.
MSG
wait "${pids[0]}"
