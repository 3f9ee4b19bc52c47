#!/usr/bin/env python3
"""workload.py - dump the neutral generator's default workload to a binary file for Vigil's benchmarks.

Imports rw_load.py from the shared bench folder (default: ../shared/bench relative to the repo
root) and generates exactly the samples its prepare() would send: build_series(series, seed),
then for k in range(samples): for s in series: v = s.next(t_s, dt_s). The start is fixed
(2026-11-29 23:00:00 UTC, the span the Prometheus and VictoriaMetrics figures in PEERS.md used)
unless --start-ms is given, so the file is the same on every run.

File layout (little-endian):
  "VWL1"
  uint32  series count
  per series:
    uint32  length of the label text, then the UTF-8 text  name{k="v",...}  (rw_load.text_series)
    uint32  n, the sample count
    n x int64   timestamps (ms)
    n x float64 values

Example:
  python3 Benchmarks/workload.py                      # writes .build-bench/workload.vwl
  python3 Benchmarks/workload.py --series 100 --out .build-bench/small.vwl
"""

import argparse
import array
import importlib.util
import os
import struct
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_START_MS = 1795993200000  # 2026-11-29T23:00:00Z


def load_rw_load(bench_dir):
    path = os.path.join(bench_dir, "rw_load.py")
    if not os.path.exists(path):
        sys.exit("workload.py: %s not found (pass --bench-dir, the folder holding rw_load.py)" % path)
    spec = importlib.util.spec_from_file_location("rw_load", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("bench_dir", nargs="?", default=os.path.join(REPO, "..", "shared", "bench"),
                   help="folder with rw_load.py (default: ../shared/bench from the repo root)")
    p.add_argument("--out", default=os.path.join(REPO, ".build-bench", "workload.vwl"))
    p.add_argument("--series", type=int, default=10000)
    p.add_argument("--samples-per-series", type=int, default=720)
    p.add_argument("--interval-ms", type=int, default=15000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start-ms", type=int, default=DEFAULT_START_MS)
    args = p.parse_args(argv)
    if args.series <= 0 or args.samples_per_series <= 0 or args.interval_ms <= 0:
        p.error("--series, --samples-per-series and --interval-ms must be > 0")

    rw = load_rw_load(args.bench_dir)
    S, N, dt_ms, start = args.series, args.samples_per_series, args.interval_ms, args.start_ms
    series = rw.build_series(S, args.seed)
    ts = array.array("q", (start + k * dt_ms for k in range(N)))
    vals = [array.array("d") for _ in series]
    t0 = time.time()
    # Same loop order as rw_load.prepare(): the generators are stateful, so order matters.
    for k in range(N):
        t_ms = start + k * dt_ms
        t_s = t_ms / 1000.0
        for s in series:
            vals[s.idx].append(s.next(t_s, dt_ms / 1000.0))
        if (k + 1) % max(1, N // 10) == 0:
            print("  generated %d/%d timestamps (%.1fs)" % (k + 1, N, time.time() - t0), file=sys.stderr, flush=True)

    if sys.byteorder != "little":
        ts.byteswap()
        for v in vals:
            v.byteswap()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"VWL1")
        f.write(struct.pack("<I", len(series)))
        for s in series:
            text = rw.text_series(s.labels).encode("utf-8")
            f.write(struct.pack("<I", len(text)))
            f.write(text)
            f.write(struct.pack("<I", N))
            f.write(ts.tobytes())
            f.write(vals[s.idx].tobytes())
    os.replace(tmp, args.out)
    print("wrote %s: %d series x %d samples (seed %d, start %d ms, step %d ms), %.1f MB" % (
        args.out, S, N, args.seed, start, dt_ms, os.path.getsize(args.out) / 1e6), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
