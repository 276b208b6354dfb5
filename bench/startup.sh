#!/usr/bin/env bash
# Startup benchmark of `kraal server` with no plugins:
#   - time from exec to the "server ready" log line (median of N runs),
#   - idle RSS 2 s after ready (VmRSS from /proc/PID/status).
# Usage: bench/startup.sh [path/to/kraal] [runs]
# Prints figures; never pass/fail (goals: < 50 ms, < 8 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
KRAAL=${1:-build/release/bin/kraal}
RUNS=${2:-20}
[ -x "$KRAAL" ] || { echo "startup.sh: $KRAAL not built (cmake --build build/release)" >&2; exit 1; }

python3 - "$KRAAL" "$RUNS" <<'PY'
import os, signal, statistics, subprocess, sys, tempfile, time

kraal, runs = sys.argv[1], int(sys.argv[2])

def start(tmp):
    cfg = os.path.join(tmp, "kraal.yaml")
    with open(cfg, "w") as f:
        f.write(f"run_dir: {tmp}/run\ndata_dir: {tmp}/data\n")
    t0 = time.monotonic()
    p = subprocess.Popen([kraal, "server", "--config", cfg],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in p.stderr:
        if 'msg="server ready"' in line:
            return p, (time.monotonic() - t0) * 1000.0
    raise SystemExit(f"server exited without ready line (rc={p.wait()})")

def stop(p):
    p.send_signal(signal.SIGTERM)
    p.stderr.read()
    rc = p.wait(timeout=5)
    if rc != 0:
        raise SystemExit(f"server exit code {rc}")

times = []
for i in range(runs):
    with tempfile.TemporaryDirectory(prefix="kraal-bench.") as tmp:
        p, ms = start(tmp)
        times.append(ms)
        stop(p)

with tempfile.TemporaryDirectory(prefix="kraal-bench.") as tmp:
    p, _ = start(tmp)
    time.sleep(2)
    status = open(f"/proc/{p.pid}/status").read()
    rss = next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:"))
    threads = next(l.split()[1] for l in status.splitlines() if l.startswith("Threads:"))
    stop(p)

print(f"startup: exec -> \"server ready\": median {statistics.median(times):.1f} ms, "
      f"min {min(times):.1f} ms, max {max(times):.1f} ms over {runs} runs")
print(f"startup: idle RSS after 2 s: {int(rss) / 1024:.1f} MiB ({rss} kB), {threads} threads")
PY
