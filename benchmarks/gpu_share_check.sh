#!/usr/bin/env bash
# Runs sharing one GPU (issue 10, item 6), in one command for a lent GPU machine: what a
# JAX process gets when others already hold the card with JAX's defaults (what local
# workers had before `worker_gpu_environment`), then the quick grid with local workers
# (`--workers auto`, several on one card), with one worker, and as Ray tasks with
# `--gpus-per-run 0.25`; for each, the device every run trained on, the wall time and the
# GPU memory its processes held (nvidia-smi every 0.5 s).
# Last, rnnkit's recurrent layers against Keras's on the GPU (tests/models/test_fast_rnn.py).
#
# Needs: a Python with jax[cuda], Keras and rnnkit's other dependencies (Ray for the Ray
# part); wheels missing there can be given in WHEELS (a folder, installed to /tmp/site).
# Output: the terminal, and OUT_DIR/gpu_share_check.log with each grid's environment.json.
set -u
cd "$(dirname "$0")/.."
source benchmarks/gpu_setup.sh
export MPLBACKEND=Agg
out=${OUT_DIR:-/tmp}
work=$(mktemp -d)
cat > "$work/hold.py" <<'PY'
import os, time
import jax, jax.numpy as jnp
x = jnp.ones((1024, 1024))
x.block_until_ready()
print(f"process {os.getpid()}: default backend {jax.default_backend()}, array on {list(x.devices())[0]}", flush=True)
time.sleep(6)
PY
cat > "$work/runs.py" <<'PY'
import collections, json, pathlib, sys
out = pathlib.Path(sys.argv[1])
environment = json.loads((out / "environment.json").read_text())
print("  executor:", {key: environment.get(key) for key in ("executor", "workers", "threads_per_worker", "gpus", "ray_per_run", "backend", "device")})
devices = collections.Counter()
for metrics in sorted(out.glob("runs/*/metrics.json")):
    data = json.loads(metrics.read_text())
    devices[(data["environment"].get("backend"), data["environment"].get("device"))] += 1
print("  runs by (backend, device):", dict(devices))
statuses = collections.Counter(json.loads(p.read_text()).get("status") for p in out.glob("runs/*/status.json"))
print("  run status:", dict(statuses))
PY
grid() {  # grid NAME ARGS...: the quick grid, timed, with the GPU memory of its processes
    local name=$1; shift
    echo "== rnnkit compare --quick $*"
    local start=$(date +%s.%N)
    rm -f "$work/done"
    ( timeout 240 python3 -m rnnkit compare --quick --no-report --no-progress "$@" --out "$work/$name" \
          > "$work/$name.log" 2>&1; echo $? > "$work/done" ) &
    while [ ! -f "$work/done" ]; do  # Every 0.5 s: pid, MiB used on the GPU.
        nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null \
            | awk -v t="$(date +%s.%N)" '{print t, $0}' >> "$work/mem_$name.log"
        sleep 0.5
    done
    wait
    echo "  exit $(cat "$work/done"), $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
    tail -n 8 "$work/$name.log" | sed 's/^/  | /'
    python3 - "$work/mem_$name.log" <<'PY'
import collections, pathlib, sys
path = pathlib.Path(sys.argv[1])
rows = [line.replace(",", " ").split() for line in path.read_text().splitlines()] if path.exists() else []
per_pid, totals = collections.defaultdict(int), collections.defaultdict(int)
for t, pid, mib in (row for row in rows if len(row) == 3):
    per_pid[pid] = max(per_pid[pid], int(mib))
    totals[t] += int(mib)
print(f"  GPU memory: {len(per_pid)} processes, peak MiB each {sorted(per_pid.values())}, "
      f"peak together {max(totals.values(), default=0)} MiB")
PY
    [ -f "$work/$name/environment.json" ] && python3 "$work/runs.py" "$work/$name" && cp "$work/$name/environment.json" "$out/environment_$name.json"
}
{
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv,noheader || true
nproc; uptime
python3 -c "from rnnkit.backend import visible_gpus, gpu_backends; print('visible_gpus():', visible_gpus(), ' gpu_backends():', gpu_backends())"
echo "== three JAX processes started together, JAX's default memory settings"
for i in 1 2 3; do timeout 60 python3 "$work/hold.py" 2>&1 | grep -v "^\s*$" | tail -n 3 & done
sleep 4; nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader || true
wait
grid auto
grid one --workers 1
if python3 -c "import ray" 2>/dev/null; then
    grid ray --ray local --gpus-per-run 0.25
else
    echo "== Ray not importable: its part skipped"
fi
echo "== tests/models/test_fast_rnn.py on the GPU, float32 products at full precision"
JAX_DEFAULT_MATMUL_PRECISION=highest KERAS_BACKEND=jax timeout 150 python3 -m pytest -q -p no:cacheprovider tests/models/test_fast_rnn.py 2>&1 | tail -n 5
uptime; date -u
} 2>&1 | tee "$out/gpu_share_check.log"
