"""Provenance recorded in every result file: config, versions, git commit."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

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


def provenance_attrs(config: dict, **extra) -> dict[str, str | int | float]:
    """Flat attributes for NetCDF files and JSON sidecars."""
    attrs = {
        "onepixel_config": json.dumps(config, sort_keys=True, default=str),
        "onepixel_versions": json.dumps(package_versions(), sort_keys=True),
        "onepixel_git_commit": git_commit(),
    }
    for key, value in extra.items():
        attrs[key] = value
    return attrs
