#!/usr/bin/env bash
# What one `vigil top` refresh costs, per view, against Vigil and against Prometheus holding the same data, in the
# same run: `vigil top --once` is a client of the public HTTP API, so it runs unchanged against Prometheus (whose
# missing actions API it reports as "no remediation engine"). Loopback only; everything stops by itself.
#
#   swift build -c release --product vigil
#   Benchmarks/top/peer.sh                 # 90 and 900 hosts (1,090 and 10,000 series), 7 runs per view
#   HOSTS="900 3600" RUNS=5 Benchmarks/top/peer.sh
#   STORE=memory Benchmarks/top/peer.sh    # vigil serve --data :memory: instead of a data directory
#
# Needs python3, /usr/bin/prometheus and /usr/bin/promtool (Debian's prometheus package). Prints one table row per
# (series, view, server): requests per refresh and the refresh's summed request time (median, min–max) in ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
VIGIL=${VIGIL:-.build/release/vigil}
HOSTS=${HOSTS:-"90 900"}
RUNS=${RUNS:-7}
STORE=${STORE:-disk}
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
for x in "$VIGIL" "$PROMETHEUS" "$PROMTOOL"; do [ -x "$x" ] || { echo "peer.sh: $x not found or not executable" >&2; exit 2; }; done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 1 150); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "peer.sh: $1 never became ready" >&2; return 1; }

echo "| series | view | server | requests | median ms | min–max ms |"
echo "|---|---|---|---|---|---|"
for h in $HOSTS; do
    series=$((h * 11 + 100))
    echo "peer.sh: $h hosts ($series series): generating and loading both servers" >&2
    python3 Benchmarks/top/node_series.py "$h" > "$work/d.txt"
    vport=$(port); pport=$(port)
    data=":memory:"; [ "$STORE" = memory ] || { rm -rf "$work/vigil-data"; data="$work/vigil-data"; }
    "$VIGIL" serve --data "$data" --listen "127.0.0.1:$vport" --log-level warning >"$work/vigil.log" 2>&1 &
    pids+=($!); vpid=$!
    python3 Benchmarks/top/om.py < "$work/d.txt" > "$work/d.om"
    rm -rf "$work/prom"
    "$PROMTOOL" tsdb create-blocks-from openmetrics "$work/d.om" "$work/prom" >/dev/null
    printf 'global:\n  scrape_interval: 1h\n' > "$work/prom.yml"
    "$PROMETHEUS" --config.file="$work/prom.yml" --storage.tsdb.path="$work/prom" \
        --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$work/prom.log" 2>&1 &
    pids+=($!); ppid=$!
    ready "http://127.0.0.1:$vport/-/ready"; ready "http://127.0.0.1:$pport/-/ready"
    # in parts under the server's request-body limit (lines are in time order, so every series stays in order)
    rm -f "$work"/part.*
    split -l 250000 "$work/d.txt" "$work/part."
    for part in "$work"/part.*; do
        curl -sf -H 'Content-Type: text/plain' --data-binary @"$part" "http://127.0.0.1:$vport/api/v1/import/prometheus"
    done
    for view in overview series anomalies; do
        for server in vigil prometheus; do
            url="http://127.0.0.1:$vport"; [ "$server" = prometheus ] && url="http://127.0.0.1:$pport"
            "$VIGIL" top --once --url "$url" --view "$view" >/dev/null 2>&1 || true   # warm-up
            : > "$work/t"
            for _ in $(seq 1 "$RUNS"); do
                "$VIGIL" top --once --url "$url" --view "$view" 2>&1 >/dev/null | sed -n 's/^vigil top: \([0-9]*\) requests, \([0-9.]*\) ms$/\1 \2/p' >> "$work/t"
            done
            label=$server; [ "$server" = vigil ] && label="vigil ($STORE)"
            python3 - "$series" "$view" "$label" "$work/t" <<'PY'
import statistics, sys
series, view, server, path = sys.argv[1:]
rows = [l.split() for l in open(path) if l.strip()]
if not rows:
    print(f"| {int(series):,} | {view} | {server} | – | no answer | |"); sys.exit()
ms = sorted(float(r[1]) for r in rows)
print(f"| {int(series):,} | {view} | {server} | {rows[0][0]} | {statistics.median(ms):.1f} | {ms[0]:.1f}–{ms[-1]:.1f} |")
PY
        done
    done
    kill "$vpid" "$ppid" 2>/dev/null || true
    wait "$vpid" "$ppid" 2>/dev/null || true
done
