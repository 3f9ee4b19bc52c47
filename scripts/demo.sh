#!/usr/bin/env bash
# `make demo` (HEADLESS=1: without a terminal): build Vigil in release mode, with a progress line, then run
# `vigil demo` — `vigil serve --with-daemon` on a fresh ./demo-data, on a clock 60× real time (headless: 1440×),
# the sim driver replaying a week of NASA web traffic into two service groups with scheduled faults (a memory leak,
# a crash loop, a host that degrades and fails, demand surges), and `vigil top` on it. Quitting `vigil top` (q)
# prints the run's summary, stops the server and says where the data and the audit log are.
# Extra `vigil demo` flags: DEMO_ARGS='--seed 2 --hours 24' make demo HEADLESS=1
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building vigil (release; the first build takes several minutes on a small machine)"
# One line that keeps changing instead of minutes of silence; the full log is kept for errors.
log=$(mktemp)
set +e
swift build -c release --product vigil 2>&1 | tee "$log" | while IFS= read -r line; do
    case "$line" in
        \[*/*\]*) printf '\r    %-100.100s' "$line" ;;
    esac
done
status=${PIPESTATUS[0]}
set -e
printf '\r%-104s\r' ""
if [ "$status" -ne 0 ]; then
    grep -E "error|warning: unable" "$log" | head -30 || tail -30 "$log"
    echo "build failed (full log: $log)"
    exit "$status"
fi
rm -f "$log"
echo "    built .build/release/vigil"

args=()
if [ -n "${HEADLESS:-}" ] && [ "${HEADLESS}" != 0 ]; then args+=(--headless); fi
# shellcheck disable=SC2206
args+=(${DEMO_ARGS:-})
exec .build/release/vigil demo "${args[@]}"
