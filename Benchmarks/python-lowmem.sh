#!/usr/bin/env bash
# PYTHON for ../shared/bench/peers.sh that runs Benchmarks/rw_load_lowmem.py in place of rw_load.py
# (same options; a small per-series generator so that millions of series fit in memory).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "${1:-}" != "" ] && [ "$(basename -- "$1")" = rw_load.py ]; then
  shift
  RW_LOAD_DIR="$(dirname "$(readlink -f "$here/../../shared/bench/rw_load.py" 2>/dev/null || echo /nonexistent)")" \
    exec python3 "$here/rw_load_lowmem.py" "$@"
fi
exec python3 "$@"
