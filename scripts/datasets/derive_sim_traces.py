#!/usr/bin/env python3
"""Derive the `vigil sim` demand traces in Datasets/ from the shared real-data fixtures.

Outputs (CSV `timestamp,value`, Unix seconds, header row; deterministic: same input -> same bytes):
  Datasets/sim_nasa_http_1995_07_02_7d.csv   NASA KSC HTTP requests per minute, 1995-07-02 00:00 -04:00, 7 days
                                             (the tuning trace of `vigil sim`'s defaults)
  Datasets/sim_nasa_http_1995_08_06_7d.csv   the same server, 1995-08-06 00:00 -04:00, 7 days (held out: never
                                             used to choose a default)
  Datasets/sim_google2019_cpu_5m.csv         Google ClusterData2019 cell-wide mean CPU, 5 min, 28 days (held out)
  Datasets/sim_azure2019_cpu_5m.csv          Azure 2019 VM trace, summed VM CPU usage, 5 min, 30 days (held out)
The cluster traces' offsets are placed at 2019-05-01 00:00 UTC (Google) and 2019-07-01 00:00 UTC (Azure), the
traces' own start days; only differences between timestamps matter to the simulator.

Usage (from the repository root):
    python3 scripts/datasets/derive_sim_traces.py [--shared ../shared/datasets]
"""
import argparse
import csv
import gzip
import os
import sys


def write(path, rows):
    with open(path, "w", newline="") as f:
        f.write("timestamp,value\n")
        for t, v in rows:
            f.write(f"{t},{v}\n")
    print(f"{path}: {len(rows)} rows")


def nasa(src, start_epoch, days):
    end = start_epoch + int(days * 86400)
    rows = []
    with gzip.open(src, "rt", newline="") as f:
        for r in csv.DictReader(f):
            t = int(r["epoch_s"])
            if start_epoch <= t < end:
                rows.append((t, int(r["requests"])))
    return rows


def cluster(src, column, base, fmt):
    rows = []
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            rows.append((base + int(float(r["t_offset_s"])), fmt(float(r[column]))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join("..", "shared", "datasets"), help="shared datasets folder")
    ap.add_argument("--out", default="Datasets")
    a = ap.parse_args()
    src = os.path.join(a.shared, "nasa_http_1995", "requests_per_minute.csv.gz")
    if not os.path.exists(src):
        sys.exit(f"derive_sim_traces: {src} not found (pass --shared)")
    # 1995-07-02 00:00 -04:00 = 804657600; 1995-08-06 00:00 -04:00 = 807681600
    write(os.path.join(a.out, "sim_nasa_http_1995_07_02_7d.csv"), nasa(src, 804657600, 7))
    write(os.path.join(a.out, "sim_nasa_http_1995_08_06_7d.csv"), nasa(src, 807681600, 7))
    cu = os.path.join(a.shared, "cluster_utilization")
    write(os.path.join(a.out, "sim_google2019_cpu_5m.csv"),
          cluster(os.path.join(cu, "google2019_cluster_5min.csv"), "avg_cpu", 1556668800, lambda v: f"{v:.6f}"))
    write(os.path.join(a.out, "sim_azure2019_cpu_5m.csv"),
          cluster(os.path.join(cu, "azure2019_vms_5min.csv"), "cpu_usage", 1561939200, lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
