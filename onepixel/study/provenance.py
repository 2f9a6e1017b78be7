"""Provenance recorded in every result file the workflow writes: config, settings, versions, git commit, CPU.

Readers check a file's identity and settings with ``onepixel.io.check_identity``.
"""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from onepixel.io import as_json

# Vector instruction sets that change XLA-CPU's kernels, hence float summation order.
VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "asimd",
    "sve",
    "sve2",
)

TRACKED_PACKAGES = (
    "onepixel",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "numpy",
    "scipy",
    "xarray",
    "netCDF4",
    "matplotlib",
    "snakemake",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def git_commit(repo: Path | None = None) -> str:
    """Commit of the checkout holding this package, '+dirty' when modified."""
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


@functools.cache
def cpu_info() -> dict[str, str]:
    """CPU model and vector instruction sets (results are bitwise reproducible only on the same)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "cpu model", "hardware") and value.strip():
                model = value.strip()
            elif key in ("flags", "features"):
                flags.update(value.split())
    except OSError:
        pass
    vector = " ".join(f for f in VECTOR_FLAGS if f in flags) or "unknown"
    return {"model": model, "machine": platform.machine(), "vector_isa": vector}


def provenance_attrs(config: dict, settings: dict | None = None, **extra) -> dict[str, str | int | float]:
    """Flat attributes for NetCDF files and JSON sidecars.

    ``settings`` are the config sections the result depends on (onepixel.study.settings);
    readers compare them with what they expect.
    """
    attrs = {
        "onepixel_config": json.dumps(config, sort_keys=True, default=str),
        "onepixel_versions": json.dumps(package_versions(), sort_keys=True),
        "onepixel_git_commit": git_commit(),
        "onepixel_cpu": json.dumps(cpu_info(), sort_keys=True),
    }
    if settings is not None:
        attrs["onepixel_settings"] = as_json(settings)
    for key, value in extra.items():
        attrs[key] = value
    return attrs
