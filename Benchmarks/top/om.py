"""Prometheus text exposition with millisecond timestamps (node_series.py's output) -> OpenMetrics with second
timestamps and the closing `# EOF`, which `promtool tsdb create-blocks-from openmetrics` backfills."""
import sys

out = sys.stdout
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    head, ts = line.rsplit(" ", 1)
    out.write(f"{head} {int(ts) / 1000:.3f}\n")
out.write("# EOF\n")
