#!/usr/bin/env bash
# Pushes to a running vigil with the official Python clients and reads the data back.
#   scripts/test-clients/run.sh http://127.0.0.1:9470
# Creates (once) a venv with prometheus-client, opentelemetry-sdk + OTLP HTTP exporter and influxdb-client
# from PyPI. VENV overrides its location (default: .build/test-clients-venv in the repository).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
url="${1:?usage: run.sh BASE_URL}"
venv="${VENV:-$root/.build/test-clients-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import prometheus_client, influxdb_client, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    prometheus-client opentelemetry-sdk opentelemetry-exporter-otlp-proto-http influxdb-client
fi
exec "$venv/bin/python" "$here/push_and_read.py" "$url"
