import time
now = int(time.time()*1000)
out = []
import sys
H = int(sys.argv[1]) if len(sys.argv) > 1 else 900  # hosts x 11 series + 100 VMs: 900 -> 10,000 series
for k in range(20):
    t = now - (19-k)*15000
    for h in range(H):
        inst = f"host-{h}:9100"
        busy = (h % 97) / 100
        for c in range(4):
            out.append(f'node_cpu_seconds_total{{job="node",instance="{inst}",cpu="{c}",mode="idle"}} {(1-busy)*15*k} {t}')
            out.append(f'node_cpu_seconds_total{{job="node",instance="{inst}",cpu="{c}",mode="user"}} {busy*15*k} {t}')
        out.append(f'node_memory_MemTotal_bytes{{job="node",instance="{inst}"}} 16e9 {t}')
        out.append(f'node_memory_MemAvailable_bytes{{job="node",instance="{inst}"}} {4e9 + h*1e6} {t}')
        out.append(f'node_load1{{job="node",instance="{inst}"}} {h%7} {t}')
    for v in range(100):
        out.append(f'libvirt_domain_info_cpu_time_seconds_total{{job="libvirt",instance="host-{v}",domain="vm-{v}"}} {15*k*0.5} {t}')
print("\n".join(out))
