"""Push with the official clients, read back through /api/v1/export, compare exactly.

Usage: push_and_read.py BASE_URL   (loopback only). Prints one JSON line per client and exits 1 on a mismatch.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

BASE = sys.argv[1].rstrip("/")
assert urllib.parse.urlparse(BASE).hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
RUN = str(int(time.time() * 1000))
failures = []


def export(selector):
    q = urllib.parse.urlencode({"match[]": selector})
    with urllib.request.urlopen(f"{BASE}/api/v1/export?{q}", timeout=10) as r:
        rows = [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
    return {tuple(sorted(x["metric"].items())): list(zip(x["timestamps"], x["values"])) for x in rows}


def check(client, got, want):
    ok = got == want
    print(json.dumps({"client": client, "ok": ok, "got": {str(k): v for k, v in got.items()},
                      "want": {str(k): v for k, v in want.items()}}))
    if not ok:
        failures.append(client)


def labels(**kw):
    return tuple(sorted(kw.items()))


# --- prometheus-client: exposition text (generate_latest) and Pushgateway push -------------------------
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, push_to_gateway

reg = CollectorRegistry()
g = Gauge("vigil_pyclient_temperature_celsius", "t", ["room"], registry=reg)
g.labels("a").set(21.5)
g.labels("b").set(-3.25)
c = Counter("vigil_pyclient_requests", "r", ["code"], registry=reg)
c.labels("200").inc(7)
ts_ms = int(time.time()) * 1000 - 5000
req = urllib.request.Request(f"{BASE}/api/v1/import/prometheus?timestamp={ts_ms / 1000}", data=generate_latest(reg),
                             method="POST", headers={"Content-Type": "text/plain; version=0.0.4"})
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 204, r.status
got = export('{__name__=~"vigil_pyclient_temperature_celsius|vigil_pyclient_requests_total"}')
check("prometheus-client exposition", got, {
    labels(__name__="vigil_pyclient_temperature_celsius", room="a"): [(ts_ms, 21.5)],
    labels(__name__="vigil_pyclient_temperature_celsius", room="b"): [(ts_ms, -3.25)],
    labels(__name__="vigil_pyclient_requests_total", code="200"): [(ts_ms, 7.0)],
})

reg2 = CollectorRegistry()
Gauge("vigil_pyclient_pushed", "p", registry=reg2).set(42)
push_to_gateway(BASE.replace("http://", ""), job="pyjob", registry=reg2, grouping_key={"run": RUN})
got = export("vigil_pyclient_pushed")
check("prometheus-client push_to_gateway", {k: [v for _, v in s] for k, s in got.items()},
      {labels(__name__="vigil_pyclient_pushed", job="pyjob", run=RUN): [42.0]})

# --- influxdb-client: line protocol, v2 API, synchronous --------------------------------------------------
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

t_ms = int(time.time() * 1000) - 3000
with InfluxDBClient(url=BASE, token="unused", org="vigil") as client:
    w = client.write_api(write_options=SYNCHRONOUS)
    w.write(bucket="b", record=[
        Point("vigil_pyinflux").tag("host", "h1").field("usage", 0.5).time(t_ms, WritePrecision.MS),
        Point("vigil_pyinflux").tag("host", "h1").field("usage", 0.75).time(t_ms + 1000, WritePrecision.MS),
        Point("vigil_pyinflux").tag("host", "h2").field("load", 3).time(t_ms, WritePrecision.MS),
    ], write_precision=WritePrecision.MS)
got = export('{__name__=~"vigil_pyinflux_.*"}')
check("influxdb-client", got, {
    labels(__name__="vigil_pyinflux_usage", host="h1"): [(t_ms, 0.5), (t_ms + 1000, 0.75)],
    labels(__name__="vigil_pyinflux_load", host="h2"): [(t_ms, 3.0)],
})

# --- opentelemetry-sdk: OTLP/HTTP protobuf exporter ------------------------------------------------------
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

exporter = OTLPMetricExporter(endpoint=f"{BASE}/v1/metrics")
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
provider = MeterProvider(metric_readers=[reader],
                         resource=Resource.create({"service.name": "vigil-pyotel", "service.instance.id": "i1"}))
meter = provider.get_meter("vigil-test")
ctr = meter.create_counter("vigil_pyotel_jobs", unit="1")
ctr.add(5, {"queue": "q1"})
ctr.add(2, {"queue": "q1"})
up = meter.create_up_down_counter("vigil_pyotel_inflight")
up.add(3, {"queue": "q2"})
provider.force_flush()
provider.shutdown()
# The SDK exports cumulative points (once on force_flush, again on shutdown); vigil names them by the
# OTLP-to-Prometheus conventions (monotonic sum -> _total) with job/instance from the resource.
got = export('{__name__=~"vigil_pyotel_.*"}')
check("opentelemetry-sdk OTLP/HTTP", {k: sorted({v for _, v in s}) for k, s in got.items()}, {
    labels(__name__="vigil_pyotel_jobs_total", queue="q1", job="vigil-pyotel", instance="i1"): [7.0],
    labels(__name__="vigil_pyotel_inflight", queue="q2", job="vigil-pyotel", instance="i1"): [3.0],
})

sys.exit(1 if failures else 0)
