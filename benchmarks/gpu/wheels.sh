#!/usr/bin/env bash
# Wheels of what the study needs beyond a CUDA machine's own Python, for a GPU
# host that cannot reach a package index (run_study.sh installs them there).
#
#     bash benchmarks/gpu/wheels.sh [PYTHON]     # writes .whl/ in the repo root
#
# PYTHON: an interpreter of the GPU host's Python minor version (default
# python3.12: CPython 3.12 on x86-64 Linux). The host is taken to have JAX with
# its CUDA plugin, Flax, Optax, NumPy, SciPy, xarray, Matplotlib and the common
# packages listed in PRESENT below; their wheels are dropped, so the host's
# own JAX (with CUDA) stays the one imported. What is left (Snakemake,
# netCDF4, ART, jsonschema and their needs) is about 40 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${1:-python3.12}
"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' || {
    echo "error: $PYTHON is not Python >= 3.11. Fix: name one, e.g. bash $0 ~/.pyenv/versions/3.12.1/bin/python3.12" >&2
    exit 1
}
# The study's pins (pyproject.toml) of what such a host lacks.
NEEDED=(
    "snakemake==9.27.1"
    "netCDF4==1.7.5.1.post1"
    "adversarial-robustness-toolbox==1.20.1"
    "jsonschema"
)
# Distributions a CUDA image of the kind described above already has.
PRESENT=(
    absl_py attrs certifi charset_normalizer click cloudpickle flax idna jax jaxlib jinja2 joblib
    markupsafe matplotlib ml_dtypes msgpack narwhals numpy optax packaging pandas platformdirs
    psutil pyyaml requests scikit_learn scipy setuptools six tabulate threadpoolctl tqdm
    typing_extensions urllib3 wrapt xarray
)
rm -rf .whl
mkdir -p .whl
"$PYTHON" -m pip wheel --quiet --wheel-dir .whl "${NEEDED[@]}"
for name in "${PRESENT[@]}"; do
    rm -f .whl/"$name"-*.whl
done
ls .whl
du -sh .whl
