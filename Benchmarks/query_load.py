#!/usr/bin/env python3
"""Sends range queries one after another to a Prometheus-API server on loopback for a fixed time and
reports latency percentiles (ms). Bounded: stops after --seconds or --max-queries.

  query_load.py --base http://127.0.0.1:9470 --start-ms S --end-ms E --seconds 60 --json out.json
"""
import argparse, http.client, ipaddress, json, socket, sys, time, urllib.parse

QUERIES = [
    'sum by (host) (rate(node_cpu_seconds_total{host=~"host-00[0-4].*"}[5m]))',
    'max by (dc) (node_load1)',
    'count(libvirt_domain_memory_rss_bytes{dc="dc-2"})',
]


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return round(v[min(len(v) - 1, int(p / 100.0 * len(v)))], 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", required=True)
    ap.add_argument("--start-ms", type=int, required=True)
    ap.add_argument("--end-ms", type=int, required=True)
    ap.add_argument("--step", default="60")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-queries", type=int, default=10000)
    ap.add_argument("--nocache", action="store_true", help="add nocache=1 (VictoriaMetrics)")
    ap.add_argument("--stop-file", help="also stop as soon as this file exists")
    ap.add_argument("--json")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.base)
    for info in socket.getaddrinfo(u.hostname, u.port):
        if not ipaddress.ip_address(info[4][0]).is_loopback:
            sys.exit("query_load: loopback targets only")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    lat = {q: [] for q in QUERIES}
    errors = 0
    t_end = time.time() + a.seconds
    n = 0
    import os
    while time.time() < t_end and n < a.max_queries and not (a.stop_file and os.path.exists(a.stop_file)):
        q = QUERIES[n % len(QUERIES)]
        params = {"query": q, "start": a.start_ms / 1000.0, "end": a.end_ms / 1000.0, "step": a.step}
        if a.nocache:
            params["nocache"] = "1"
        t0 = time.perf_counter()
        try:
            conn.request("GET", "/api/v1/query_range?" + urllib.parse.urlencode(params))
            r = conn.getresponse()
            body = r.read()
            ok = r.status == 200 and b'"success"' in body
        except Exception:
            ok = False
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        ms = (time.perf_counter() - t0) * 1000
        if ok:
            lat[q].append(ms)
        else:
            errors += 1
        n += 1
    allv = [x for v in lat.values() for x in v]
    out = {"queries": n, "errors": errors, "p50_ms": pct(allv, 50), "p90_ms": pct(allv, 90),
           "p99_ms": pct(allv, 99), "max_ms": round(max(allv), 1) if allv else None,
           "per_query": {q: {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)} for q, v in lat.items()}}
    s = json.dumps(out)
    if a.json:
        open(a.json, "w").write(s + "\n")
    print(s)


if __name__ == "__main__":
    main()
