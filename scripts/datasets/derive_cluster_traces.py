#!/usr/bin/env python3
"""Derive the per-VM traces of `vigil sim --cluster` in Datasets/ from the Bitbrains GWA-T-12 Rnd fixture.

Outputs (long CSV `vm,timestamp,cpu,memory`, header row; deterministic: same input -> same bytes):
  Datasets/cluster_bitbrains_dev.csv    VMs at odd positions of vms.csv, days 0-5 (2013-07-31 22:00 UTC + 5 d):
                                        the set the placement defaults were chosen on
  Datasets/cluster_bitbrains_test.csv   VMs at even positions, days 7-12: held out (disjoint VMs and days),
                                        run once for the reported figures
  Datasets/cluster_bitbrains_small.csv  the first 12 dev VMs, first 2 days (the end-to-end test's input)

Derivation: per VM and 10-minute bucket (bucket = (timestamp - 1375308000) // 600), the mean of the 5-minute samples;
cpu = cpu_usage_mhz / (cpu_capacity_mhz / cpu_cores) (demand in cores, 3 decimals), memory = mem_usage_kb / 2^20
(GiB, 2 decimals); timestamp = 1375308000 + 600 * bucket. VMs 54 and 122-127 (long all-zero stretches: off or not
reported) are left out, as are all-zero rows of other VMs.

Usage (from the repository root):
    python3 scripts/datasets/derive_cluster_traces.py [--shared ../shared/datasets]
"""
import argparse
import csv
import gzip
import os

T0 = 1375308000
STEP = 600
EXCLUDE = {54, 122, 123, 124, 125, 126, 127}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/datasets")
    ap.add_argument("--out", default="Datasets")
    a = ap.parse_args()
    src = os.path.join(a.shared, "bitbrains_rnd")
    ids = [int(r["vm_id"]) for r in csv.DictReader(open(os.path.join(src, "vms.csv")))]
    ids = [i for i in ids if i not in EXCLUDE]
    dev = set(ids[1::2])
    test = set(ids[0::2])
    small = set(sorted(ids[1::2])[:12])
    buckets = {}  # (vm, bucket) -> [n, cpu, mem]
    with gzip.open(os.path.join(src, "vm_metrics_2013-08_21d.csv.gz"), "rt") as f:
        for r in csv.DictReader(f):
            vm = int(r["vm_id"])
            if vm in EXCLUDE:
                continue
            cap, cores = float(r["cpu_capacity_mhz"]), float(r["cpu_cores"])
            if cap <= 0 or cores <= 0:
                continue
            b = (int(r["timestamp"]) - T0) // STEP
            if b < 0 or b >= 14 * 144:
                continue
            cpu = float(r["cpu_usage_mhz"]) / (cap / cores)
            mem = float(r["mem_usage_kb"]) / 2**20
            acc = buckets.setdefault((vm, b), [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += cpu
            acc[2] += mem

    def write(path, vms, lo, hi):
        n = 0
        with open(path, "w", newline="") as f:
            f.write("vm,timestamp,cpu,memory\n")
            for vm in sorted(vms):
                for b in range(lo, hi):
                    acc = buckets.get((vm, b))
                    if not acc:
                        continue
                    f.write(f"vm{vm},{T0 + STEP * b},{acc[1] / acc[0]:.3f},{acc[2] / acc[0]:.2f}\n")
                    n += 1
        print(f"{path}: {len(vms)} VMs, {n} rows, {os.path.getsize(path)} bytes")

    write(os.path.join(a.out, "cluster_bitbrains_dev.csv"), dev, 0, 5 * 144)
    write(os.path.join(a.out, "cluster_bitbrains_test.csv"), test, 7 * 144, 12 * 144)
    write(os.path.join(a.out, "cluster_bitbrains_small.csv"), small, 0, 2 * 144)


if __name__ == "__main__":
    main()
