#!/usr/bin/env python3
"""Inject memory leaks and fills that reach a limit at known times into real Bitbrains memory traces.

Usage (from the repository root):
    python3 scripts/datasets/inject_exhaustion.py --out .build-bench/exhaustion.csv
    python3 scripts/datasets/inject_exhaustion.py --synthetic --vms 6 --days 2 --out scripts/datasets/exhaustion-synthetic.csv

Input: ../shared/datasets/bitbrains_rnd/vm_metrics_2013-08_21d.csv.gz (per VM: mem_usage_kb against mem_capacity_kb,
and disk_write_kbps for the "writes" fill shape). Rows with capacity 0 (VM off or not reported) are dropped. The trace
has no filesystem size or used bytes, so there are no real disk-fill traces to inject into: the "writes" shape is a fill
whose growth follows the VM's own cumulative disk writes (bursty, with quiet nights), added to its memory trace.

Output: one CSV row per sample: stream,split,kind,t,value,limit,exhausted
  - stream: "vm<id>"; split: train / validation / test from a fixed hash of the VM id (sha256, 60/20/20);
  - kind: clean, or the shape of the leak active at that row (linear, stepwise, accelerating, writes);
  - value: memory used (KB) with the leak added; limit: mem_capacity_kb; exhausted: 1 on the first row at which the
    value reaches the limit. The leak is removed after that row (the process was OOM-killed and restarted), so the next
    row falls back to the original trace.

Half the VMs (by a second hash) stay clean. In each of the others, every 3.5-day slot gets a leak with probability 0.75:
start uniform in the slot, duration log-uniform in [2 h, 36 h], shape uniform among the four, amount such that the
VM's median usage over the last hour before the planned end plus the leak reaches the limit at the planned end
(the real crossing can come earlier, on a spike: the label is the real first crossing). Seeded (--seed, default 15):
the same input gives the same file.
"""
import argparse
import csv
import gzip
import hashlib
import math
import os
import random
import sys

SLOT = 3.5 * 86400
KINDS = ["linear", "stepwise", "accelerating", "writes"]


def split_of(vm):
    h = int(hashlib.sha256(f"bitbrains-vm-{vm}".encode()).hexdigest(), 16) % 10
    return "train" if h < 6 else ("validation" if h < 8 else "test")


def leaky(vm):
    return int(hashlib.sha256(f"leak-{vm}".encode()).hexdigest(), 16) % 2 == 0


def load_bitbrains(path, max_vms):
    vms = {}
    with gzip.open(path, "rt") as f:
        r = csv.reader(f)
        head = next(r)
        ix = {n: i for i, n in enumerate(head)}
        for row in r:
            vm = int(row[ix["vm_id"]])
            cap = float(row[ix["mem_capacity_kb"]])
            if cap <= 0:
                continue
            if vm not in vms:
                if len(vms) >= max_vms:
                    continue
                vms[vm] = []
            vms[vm].append((float(row[ix["timestamp"]]), float(row[ix["mem_usage_kb"]]), cap,
                            float(row[ix["disk_write_kbps"]])))
    return vms


def synthetic(n_vms, days, rng):
    """Noisy daily-periodic memory with spikes, 5-minute steps: a stand-in for the committed test fixture."""
    vms = {}
    for vm in range(1, n_vms + 1):
        cap = 1_000_000.0
        base = rng.uniform(0.1, 0.4) * cap
        rows = []
        t0 = 1_375_308_000
        for k in range(int(days * 288)):
            t = t0 + 300 * k
            v = base * (1 + 0.15 * math.sin(2 * math.pi * k / 288)) + rng.gauss(0, 0.02 * cap)
            if rng.random() < 0.01:
                v += rng.uniform(0.05, 0.3) * cap
            rows.append((float(t), max(0.0, v), cap, max(0.0, rng.gauss(50, 40))))
        vms[vm] = rows
    return vms


def shape(kind, u, rng_steps, cumw):
    if kind == "linear":
        return u
    if kind == "stepwise":
        return math.floor(u * rng_steps) / rng_steps
    if kind == "accelerating":
        return (math.exp(3 * u) - 1) / (math.exp(3) - 1)
    return cumw  # writes: normalised cumulative writes


def inject(vm, rows, rng, slot):
    n = len(rows)
    t = [r[0] for r in rows]
    v = [r[1] for r in rows]
    cap = [r[2] for r in rows]
    w = [r[3] for r in rows]
    leak = [0.0] * n
    kind = ["clean"] * n
    exhausted = [0] * n
    if not leaky(vm):
        return t, v, cap, kind, exhausted
    plans = []
    s0 = t[0]
    while s0 < t[-1]:
        if rng.random() < 0.75:
            dur = math.exp(rng.uniform(math.log(2 * 3600), math.log(36 * 3600)))
            start = s0 + rng.uniform(0, slot - dur) if slot > dur else s0
            plans.append((start, start + dur, rng.choice(KINDS), rng.randint(3, 10)))
        s0 += slot
    for start, end, k, steps in plans:
        idx = [i for i in range(n) if start <= t[i] <= end]
        if len(idx) < 4:
            continue
        last_hour = sorted(v[i] for i in idx if t[i] > end - 3600) or [v[idx[-1]]]
        amount = cap[idx[-1]] - last_hour[len(last_hour) // 2]
        if amount <= 0:
            continue
        end = t[idx[-1]]  # the planned exhaustion falls on a sample
        tot = sum(w[i] for i in idx)
        acc = 0.0
        for i in idx:
            acc += w[i]
            u = (t[i] - start) / (end - start)
            cumw = acc / tot if tot > 0 else u
            leak[i] = amount * shape(k, u, steps, cumw)
            kind[i] = k
            if v[i] + leak[i] >= cap[i]:
                exhausted[i] = 1
                # OOM at this row: the restart removes the leak from the next row on.
                for j in idx:
                    if t[j] > t[i]:
                        leak[j] = 0.0
                        kind[j] = "clean"
                break
    out_v = [v[i] + leak[i] for i in range(n)]
    # A clean row can still touch the limit on its own; label it too (it is a real exhaustion of the trace).
    for i in range(n):
        if out_v[i] >= cap[i] and not exhausted[i] and (i == 0 or out_v[i - 1] < cap[i - 1]):
            exhausted[i] = 1
    return t, out_v, cap, kind, exhausted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=os.path.join("..", "shared", "datasets", "bitbrains_rnd",
                                                      "vm_metrics_2013-08_21d.csv.gz"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--vms", type=int, default=10**9, help="at most this many VMs (the lowest ids)")
    ap.add_argument("--synthetic", action="store_true", help="synthetic base traces instead of Bitbrains (test fixture)")
    ap.add_argument("--days", type=float, default=2.0, help="days per synthetic trace")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    if a.synthetic:
        vms = synthetic(a.vms if a.vms < 10**9 else 6, a.days, rng)
        slot = a.days * 86400 / 2
    else:
        if not os.path.exists(a.dataset):
            sys.exit(f"{a.dataset}: not found (run from the repository root with ../shared present)")
        vms = load_bitbrains(a.dataset, a.vms)
        slot = SLOT
    events = 0
    with open(a.out, "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["stream", "split", "kind", "t", "value", "limit", "exhausted"])
        for vm in sorted(vms):
            rows = sorted(vms[vm])
            vrng = random.Random(a.seed * 1_000_003 + vm)  # per-VM stream: independent of --vms
            t, v, cap, kind, ex = inject(vm, rows, vrng, slot)
            events += sum(ex)
            sp = split_of(vm)
            for i in range(len(t)):
                wr.writerow([f"vm{vm}", sp, kind[i], int(t[i]), f"{v[i]:.1f}", f"{cap[i]:.1f}", ex[i]])
    print(f"{a.out}: {len(vms)} VMs, {events} exhaustions", file=sys.stderr)


if __name__ == "__main__":
    main()
