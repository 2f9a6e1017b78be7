#!/usr/bin/env bash
# The default study (`make run`: 75 nets, their searches, the attacks, tables,
# figures) on one CUDA GPU, from a clean results/, timed, in one command:
#
#     bash benchmarks/gpu/run_study.sh [CORES]
#
# For a machine with JAX and its CUDA plugin installed and no package index:
# the rest comes from .whl/ (benchmarks/gpu/wheels.sh, run where pip works)
# and is installed beside the machine's own packages. Every job is a process
# of its own on the one GPU (CORES of them at a time, default: every core).
# Writes to $OUT (default gpu-run/): versions.txt, snakemake.log, report.md
# (wall and job time per stage, the search's candidates/s per D) and
# results.tar.gz (tables, figures, logs).
#
# Environment: CONFIG (default config/config.yaml), PYTHON (default python3),
# REQUIRE_GPU=0 to let it run on a CPU-only JAX (to try the script itself).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-run}
CONFIG=${CONFIG:-config/config.yaml}
PYTHON=${PYTHON:-python3}
CORES=${1:-$(nproc)}
SITE=${SITE:-/tmp/onepixel-site}
for folder in results logs; do
    if [ -e "$folder" ]; then
        echo "error: $folder/ exists; the run is timed from nothing. Fix: run it in a fresh clone, or move $folder/ away" >&2
        exit 1
    fi
done
mkdir -p "$OUT"

if [ -d .whl ]; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl
fi
# onepixel itself (its version and metadata are in every result file's provenance).
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-build-isolation --no-compile --upgrade \
    --target "$SITE" .
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Many jobs share the GPU: none may take most of its memory when it starts.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    echo "cores: $(nproc), jobs at a time: $CORES"
    "$PYTHON" - <<'EOF'
import sys
from importlib.metadata import version
print("python", sys.version.split()[0])
for name in ("jax", "jaxlib", "flax", "optax", "numpy", "xarray", "netCDF4", "snakemake",
             "adversarial-robustness-toolbox"):
    print(name, version(name))
import jax
print("backend", jax.default_backend(), jax.devices())
EOF
} 2>&1 | tee "$OUT/versions.txt"
backend=$(sed -n 's/^backend \([a-z]*\).*/\1/p' "$OUT/versions.txt")
if [ "$backend" != "gpu" ] && [ "${REQUIRE_GPU:-1}" != "0" ]; then
    echo "error: JAX's backend is '$backend', not gpu. Fix: install JAX with its CUDA plugin, or REQUIRE_GPU=0 to run on it anyway" >&2
    exit 1
fi
# The CPU flags the jobs give XLA are the pinned jaxlib's: where this XLA
# does not know them it would stop every job, so they are left out.
if ! "$PYTHON" -c "from onepixel.study.runtime import limit_cpu_threads
limit_cpu_threads(1, eigen_convolutions=True)
import jax
jax.numpy.ones(2).block_until_ready()" > "$OUT/xla_flags.txt" 2>&1; then
    echo "this XLA does not take the CPU flags: ONEPIXEL_XLA_CPU_FLAGS=0" | tee -a "$OUT/versions.txt"
    export ONEPIXEL_XLA_CPU_FLAGS=0
fi

"$PYTHON" -m onepixel.study.config config/config.yaml "$CONFIG"
started=$(date +%s)
status=0
"$PYTHON" -m snakemake --cores "$CORES" --configfile "$CONFIG" > "$OUT/snakemake.log" 2>&1 || status=$?
wall=$(( $(date +%s) - started ))
echo "snakemake exit $status, ${wall} s wall" | tee -a "$OUT/versions.txt"
"$PYTHON" benchmarks/gpu/report.py results --wall "$wall" > "$OUT/report.md" 2>&1 || true
cat "$OUT/report.md"
tar czf "$OUT/results.tar.gz" results/tables results/figures logs 2>/dev/null || true
exit "$status"
