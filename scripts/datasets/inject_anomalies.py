#!/usr/bin/env python3
"""Univariate anomaly-detection streams for `vigil eval detect --univariate`: labelled real channels, anomalies of every
kind injected into real unlabelled traces, and clean traces where the right answer is no alarm.

Usage (from the repository root, with ../shared present):
    python3 scripts/datasets/inject_anomalies.py --out .build-bench/anomaly-streams.csv
    python3 scripts/datasets/inject_anomalies.py --synthetic --out Tests/VigilForecastTests/Fixtures/anomaly-streams-small.csv

Output: one CSV row per sample: stream,split,source,kind,t,value,anomaly
  - stream: a name that says where it comes from (smd/machine-1-6/dim_12, bitbrains/vm17/cpu, nasa/week3, ...);
  - split: dev or test, from a fixed hash of the stream's base trace (a machine, a VM, a NASA fortnight, a cluster
    trace): every stream of one base trace lands in one split. Settings are chosen on dev; test is reported once;
  - source: smd, asd, bitbrains, nasa, cluster; kind: labelled (SMD/ASD expert labels), clean, or the injected kind
    (spike, dip, level_shift, trend_change, variance_change, contextual);
  - t: Unix seconds; value; anomaly: 1 on the labelled or injected anomalous rows.

Sources:
  - SMD (1-minute, 8 machines) and ASD (5-minute, 12 servers): per machine the channels the interpretation labels name
    most often (--channels per machine, constant channels skipped); a channel's anomalous rows are the labelled segments
    that list it. Each stream is the last 2 days (SMD) / 5 days (ASD) of the unlabelled train part followed by the
    test part (row i of test is the step after the last train row).
  - Bitbrains (5-minute CPU %, real timestamps; --vms VMs with the lowest ids whose CPU is not constant), the NASA
    request rate (1-minute, cut into fortnights) and the cluster aggregates (5-minute: Alibaba CPU and memory, Azure
    CPU and memory, Google CPU and assigned memory).
  - Every base trace gives one clean stream with probability 0.3, otherwise one injected stream of a single kind
    (cycling through the six within each split), with 1 to 3 anomalies placed after the first 20 % of the stream. Magnitudes are
    multiples of the trace's robust spread (1.4826 × MAD of the values over the previous day): spike/dip 4–8×, one to
    three points; level shift ±2.5–4× for the rest of the stream (labelled: the first hour); trend change: a ramp of
    3–5× per day from the onset (labelled: the first 3 hours); variance change: added noise of 2–3× for 6–24 hours
    (labelled: all of it); contextual: 2–4 hours replaced by the same hours 12 hours earlier (labelled: all of it;
    only on traces with a daily pattern, otherwise a dip).
Seeded (--seed, default 15): the same inputs give the same file.
"""
import argparse
import csv
import gzip
import hashlib
import math
import os
import random
import sys

DS = os.path.join("..", "shared", "datasets")
KINDS = ["spike", "level_shift", "trend_change", "variance_change", "contextual", "dip"]


def split_of(base):
    return "dev" if int(hashlib.sha256(f"anomaly-split-{base}".encode()).hexdigest(), 16) % 2 == 0 else "test"


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def robust_sd(xs):
    m = median(xs)
    return 1.4826 * median([abs(x - m) for x in xs])


def read_csv_gz(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt") as f:
        r = csv.reader(f)
        head = next(r)
        return head, [row for row in r]


def labelled(name, step, learn_rows, channels):
    """SMD or ASD channels: list of (stream, base, kind, t, v, a)."""
    folder = os.path.join(DS, name)
    lab_path = os.path.join(folder, "interpretation_labels.csv")
    head, rows = read_csv_gz(lab_path)
    inclusive = "end_row_inclusive" in head
    segs = {}
    for r in rows:
        m, s, e, dims = r[0], int(r[1]), int(r[2]), [int(d) for d in r[3].split()]
        if inclusive:
            e += 1
        segs.setdefault(m, []).append((s, e, dims))
    out = []
    for m in sorted(segs):
        th, train = read_csv_gz(os.path.join(folder, f"{m}_train.csv.gz"))
        eh, test = read_csv_gz(os.path.join(folder, f"{m}_test.csv.gz"))
        count = {}
        for s, e, dims in segs[m]:
            for d in dims:
                count[d] = count.get(d, 0) + 1
        chosen = []
        for d in sorted(count, key=lambda d: (-count[d], d)):
            col = eh.index(f"dim_{d}")
            vals = [float(r[col]) for r in test]
            if max(vals) - min(vals) <= 0 or robust_sd(vals[:2000]) == 0 and len(set(vals)) < 20:
                continue
            chosen.append(d)
            if len(chosen) >= channels:
                break
        t0 = 1_500_000_000
        tail = train[-learn_rows:]
        for d in chosen:
            col_tr, col_te = th.index(f"dim_{d}"), eh.index(f"dim_{d}")
            v = [float(r[col_tr]) for r in tail] + [float(r[col_te]) for r in test]
            a = [0] * len(tail) + [0] * len(test)
            for s, e, dims in segs[m]:
                if d in dims:
                    for i in range(s, min(e, len(test))):
                        a[len(tail) + i] = 1
            t = [t0 + step * i for i in range(len(v))]
            out.append((f"{name}/{m}/dim_{d}", f"{name}/{m}", "labelled", t, v, a))
    return out


def base_traces(max_vms):
    """(name, base, t, v, step, daily) of every real unlabelled trace."""
    out = []
    head, rows = read_csv_gz(os.path.join(DS, "bitbrains_rnd", "vm_metrics_2013-08_21d.csv.gz"))
    ix = {n: i for i, n in enumerate(head)}
    vms = {}
    for r in rows:
        vms.setdefault(int(r[ix["vm_id"]]), []).append((float(r[ix["timestamp"]]), float(r[ix["cpu_usage_pct"]])))
    taken = 0
    for vm in sorted(vms):
        tv = sorted(vms[vm])
        v = [x for _, x in tv]
        if len(v) < 2000 or robust_sd(v) <= 1e-9:
            continue
        out.append((f"bitbrains/vm{vm}/cpu", f"bitbrains/vm{vm}", [t for t, _ in tv], v, 300, False))
        taken += 1
        if taken >= max_vms:
            break
    head, rows = read_csv_gz(os.path.join(DS, "nasa_http_1995", "requests_per_minute.csv.gz"))
    t = [float(r[2]) for r in rows]
    v = [float(r[1]) for r in rows]
    fort = 14 * 1440
    for k in range(0, len(v) - fort // 2, fort):
        out.append((f"nasa/fortnight{k // fort + 1}", f"nasa/fortnight{k // fort + 1}", t[k:k + fort], v[k:k + fort], 60, True))
    for fname, cols, tcol in [("alibaba2018_cluster_5min_days3-8.csv", ["cpu_util_percent", "mem_util_percent"], None),
                              ("azure2019_vms_5min.csv", ["cpu_usage", "assigned_mem"], "t_offset_s"),
                              ("google2019_cluster_5min.csv", ["avg_cpu", "avg_assigned_mem"], "t_offset_s")]:
        head, rows = read_csv_gz(os.path.join(DS, "cluster_utilization", fname))
        ix = {n: i for i, n in enumerate(head)}
        tr = fname.split("_")[0]
        for c in cols:
            if tr == "alibaba2018":
                tt = [1_500_000_000 + ((int(r[ix["day"]]) - 3) * 288 + int(r[ix["slot"]])) * 300 for r in rows]
            else:
                tt = [1_500_000_000 + float(r[ix[tcol]]) for r in rows]
            out.append((f"cluster/{tr}/{c}", f"cluster/{tr}/{c}", tt, [float(r[ix[c]]) for r in rows], 300, True))
    return out


def synthetic_traces(rng, n):
    """Noisy daily-periodic 5-minute traces for the committed test fixture."""
    out = []
    for k in range(n):
        base, amp, noise = rng.uniform(20, 60), rng.uniform(5, 20), rng.uniform(0.5, 2)
        v = [base + amp * math.sin(2 * math.pi * i / 288) + rng.gauss(0, noise) for i in range(288 * 4)]
        out.append((f"synthetic/trace{k}", f"synthetic/trace{k}", [1_500_000_000 + 300 * i for i in range(len(v))], v, 300, True))
    return out


def inject(kind, t, v, step, daily, rng):
    n = len(v)
    v = list(v)
    a = [0] * n
    day = int(86400 // step)
    count = rng.randint(1, 3)
    lo = max(int(0.2 * n), day)
    if lo >= n - day // 2:
        lo = int(0.2 * n)
    slots = sorted(rng.sample(range(lo, n - max(1, n // 20)), count))
    # keep anomalies at least a day apart
    places = []
    for s in slots:
        if not places or s - places[-1] > day:
            places.append(s)
    if kind in ("level_shift", "trend_change"):
        places = places[:1]
    for s in places:
        ref = v[max(0, s - day):s]
        sd = max(robust_sd(ref), 1e-3 * (max(abs(x) for x in ref) or 1), 1e-9)
        k = kind
        if k == "contextual" and (not daily or s < day // 2 + 1):
            k = "dip"
        if k in ("spike", "dip"):
            width = rng.randint(1, 3)
            mag = rng.uniform(4, 8) * sd * (1 if k == "spike" else -1)
            for i in range(s, min(n, s + width)):
                v[i] += mag
                a[i] = 1
        elif k == "level_shift":
            mag = rng.uniform(2.5, 4) * sd * rng.choice([-1, 1])
            for i in range(s, n):
                v[i] += mag
            for i in range(s, min(n, s + max(1, 3600 // step))):
                a[i] = 1
        elif k == "trend_change":
            per_day = rng.uniform(3, 5) * sd * rng.choice([-1, 1])
            for i in range(s, n):
                v[i] += per_day * (t[i] - t[s]) / 86400
            for i in range(s, min(n, s + max(1, 3 * 3600 // step))):
                a[i] = 1
        elif k == "variance_change":
            dur = int(rng.uniform(6, 24) * 3600 // step)
            g = rng.uniform(2, 3) * sd
            for i in range(s, min(n, s + dur)):
                v[i] += rng.gauss(0, g)
                a[i] = 1
        else:  # contextual: the same hours half a day earlier
            dur = int(rng.uniform(2, 4) * 3600 // step)
            half = day // 2
            for i in range(s, min(n, s + dur)):
                v[i] = v[i - half]
                a[i] = 1
    if all(x >= 0 for x in v[:lo]):
        v = [max(0.0, x) for x in v]  # a non-negative metric stays non-negative (the label stays)
    return v, a


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--vms", type=int, default=40, help="Bitbrains VMs (the lowest ids with a non-constant CPU)")
    ap.add_argument("--channels", type=int, default=3, help="SMD/ASD channels per machine")
    ap.add_argument("--synthetic", action="store_true", help="synthetic base traces only (test fixture)")
    ap.add_argument("--traces", type=int, default=6, help="synthetic traces")
    a = ap.parse_args()
    streams = []
    if a.synthetic:
        bases = synthetic_traces(random.Random(a.seed), a.traces)
    else:
        if not os.path.isdir(DS):
            sys.exit(f"{DS}: not found (run from the repository root with ../shared present)")
        streams += labelled("smd", 60, 2 * 1440, a.channels)
        streams += labelled("asd", 300, 5 * 288, a.channels)
        bases = base_traces(a.vms)
    injected = {"dev": 0, "test": 0}
    for name, base, t, v, step, daily in bases:
        rng = random.Random(f"{a.seed}-{name}")
        if rng.random() < 0.3:
            streams.append((name + "/clean", base, "clean", t, v, [0] * len(v)))
        else:
            sp = split_of(base)
            kind = KINDS[injected[sp] % len(KINDS)]  # every kind in both splits
            injected[sp] += 1
            vv, lab = inject(kind, t, v, step, daily, rng)
            streams.append((f"{name}/{kind}", base, kind, t, vv, lab))
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["stream", "split", "source", "kind", "t", "value", "anomaly"])
        for name, base, kind, t, v, lab in streams:
            sp, src = split_of(base), name.split("/")[0]
            for i in range(len(v)):
                w.writerow([name, sp, src, kind, int(t[i]), f"{v[i]:.6g}", lab[i]])
    by = {}
    for name, base, kind, t, v, lab in streams:
        by[(split_of(base), kind)] = by.get((split_of(base), kind), 0) + 1
    print(f"{a.out}: {len(streams)} streams, " + ", ".join(f"{s}/{k} {c}" for (s, k), c in sorted(by.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
