#!/usr/bin/env python3
"""Derive the demo trace Datasets/demo_vm_cpu_5m.csv from the shared Bitbrains Rnd trace.

Output: long CSV `series_id,timestamp,value` (Unix seconds, CPU usage in %, 2 decimals), the first N VMs (lowest ids,
the trace's own order) with the first D days of their 5-minute samples. Deterministic: same input → same bytes.

Usage (from the repository root):
    python3 scripts/datasets/derive_demo.py [--shared ../shared/datasets] [--vms 30] [--days 3]
"""
import argparse
import csv
import gzip
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join("..", "shared", "datasets"), help="shared datasets folder")
    ap.add_argument("--vms", type=int, default=30)
    ap.add_argument("--days", type=float, default=3)
    ap.add_argument("--out", default=os.path.join("Datasets", "demo_vm_cpu_5m.csv"))
    a = ap.parse_args()
    src = os.path.join(a.shared, "bitbrains_rnd", "vm_metrics_2013-08_21d.csv.gz")
    if not os.path.exists(src):
        sys.exit(f"derive_demo: {src} not found (pass --shared)")
    rows = {}
    order = []
    with gzip.open(src, "rt", newline="") as f:
        r = csv.DictReader(f)
        for line in r:
            vm = line["vm_id"]
            if vm not in rows:
                if len(order) >= a.vms:
                    continue
                order.append(vm)
                rows[vm] = []
            rows[vm].append((int(line["timestamp"]), float(line["cpu_usage_pct"])))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    n = 0
    with open(a.out, "w", newline="") as f:
        f.write("series_id,timestamp,value\n")
        for vm in order:
            samples = sorted(rows[vm])
            t0 = samples[0][0]
            for t, v in samples:
                if t - t0 >= a.days * 86400:
                    break
                f.write(f"vm{vm},{t},{v:.2f}\n")
                n += 1
    print(f"derive_demo: wrote {n} rows for {len(order)} VMs to {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
