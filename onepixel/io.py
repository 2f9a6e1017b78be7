"""Atomic, validated reading and writing of result files."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

KIND_ATTR = "onepixel_kind"
TITLES = {
    "dataset": "Unique binary line images of one (D, angle step), labelled by angle",
    "search": "Every one-pixel flip of every image, classified by one network (flip cube)",
    "search_summary": "Per-pixel, per-image and per-angle adversarial counts of one network",
    "attack": "One optimisation attack on a network's images, scored against its exhaustive search",
}
REFERENCES = (
    "Kügler, D., Distergoft, A., Kuijper, A., Mukhopadhyay, A.: Exploring Adversarial Examples: "
    "Patterns of One-Pixel Attacks. In: Understanding and Interpreting Machine Learning in Medical "
    "Image Computing Applications (MLCN/DLF/iMIMIC 2018), LNCS 11038, Springer (2018)"
)
FORMAT_ATTR = "onepixel_format_version"
FORMAT_VERSION = 2


class ResultFileError(ValueError):
    """A result file that is missing, corrupt, foreign or of the wrong kind."""


def rebuild_hint(path) -> str:
    """A fix that works: a present output is not rebuilt by naming it, a missing one is."""
    return (
        f"fix: `rm {path}` and rerun your snakemake command (it rebuilds that file and what is made from it)"
    )


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename onto it on success.

    On any error the temporary file is removed, so no half-written result is
    ever left under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def annotate(dataset: xr.Dataset, meta: dict[str, tuple[str, str]]) -> None:
    """Set ``long_name`` and ``units`` from {name: (long_name, units)}."""
    for name, (long_name, units) in meta.items():
        dataset[name].attrs.update(long_name=long_name, units=units)


COMPRESSION_LEVEL = 1
CHUNK_BYTES = 1 << 20


def whole_item_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunks of whole items along the first dim (~1 MB): an image of a cube is read from one chunk.

    netCDF's default chunks of a (11334, 80, 80) cube cut every image into 9
    pieces of 11 MB chunks, so reading the few images an attack needs
    decompressed ~100 MB per image; writing them was slower too.
    """
    per_item = max(1, int(np.prod(shape[1:])) * itemsize)
    return (max(1, min(shape[0], CHUNK_BYTES // per_item)), *shape[1:])


def file_attrs(kind: str) -> dict:
    """The kind and format this reader checks, and the CF global attributes (provenance says the rest)."""
    from datetime import UTC, datetime
    from importlib import metadata

    version = metadata.version("onepixel")
    return {
        KIND_ATTR: kind,
        FORMAT_ATTR: FORMAT_VERSION,
        "Conventions": "CF-1.10",
        "title": TITLES.get(kind, f"onepixel {kind}"),
        "source": f"onepixel {version}",
        "history": f"{datetime.now(UTC).isoformat(timespec='seconds')}: "
        f"written by onepixel {version} ({kind})",
        "references": REFERENCES,
    }


def write_netcdf(dataset: xr.Dataset, path, kind: str) -> None:
    """Write with zlib compression on every data variable, atomically."""
    dataset = dataset.copy()
    dataset.attrs.update(file_attrs(kind))
    encoding = {}
    for name, var in dataset.variables.items():
        if var.ndim == 0 or var.dtype.kind in "OSU":
            continue
        # Booleans keep xarray's own encoding (int8 + dtype attribute), so
        # they read back as bool. Level 1: a D = 80 cube's float margins (most
        # of its bytes) take 1.2x longer at level 4 for 2 % less.
        encoding[name] = {"zlib": True, "complevel": COMPRESSION_LEVEL}
        if var.ndim >= 3:
            encoding[name]["chunksizes"] = whole_item_chunks(var.shape, var.dtype.itemsize)
    with atomic_path(path) as tmp:
        dataset.to_netcdf(tmp, engine="netcdf4", encoding=encoding)


def read_netcdf(path, kind: str, required: tuple[str, ...] = (), lazy: bool = False) -> xr.Dataset:
    """Open a result file, checking it is ours, of ``kind``, and complete.

    ``lazy``: open it without reading the data variables (xarray reads what is
    indexed, when it is), for a job that needs a few images of a large cube;
    its attributes and variable names are checked all the same.
    """
    path = Path(path)
    hint = rebuild_hint(path)
    if not path.exists():
        raise ResultFileError(f"{path}: file not found; fix: build it with `snakemake {path}`")
    try:
        opener = xr.open_dataset if lazy else xr.load_dataset
        dataset = opener(path, engine="netcdf4")
    except Exception as error:  # netCDF4 raises several unrelated types
        raise ResultFileError(f"{path}: not a readable NetCDF file ({error}); {hint}") from None
    found = dataset.attrs.get(KIND_ATTR)
    if found != kind:
        raise ResultFileError(
            f"{path}: attribute {KIND_ATTR}={found!r}, expected {kind!r}: this is not "
            f"an onepixel {kind} file; {hint}"
        )
    if dataset.attrs.get(FORMAT_ATTR) != FORMAT_VERSION:
        raise ResultFileError(
            f"{path}: {FORMAT_ATTR}={dataset.attrs.get(FORMAT_ATTR)!r}, this onepixel "
            f"reads version {FORMAT_VERSION}; {hint}"
        )
    missing = [name for name in required if name not in dataset.variables]
    if missing:
        raise ResultFileError(f"{path}: missing variables {missing}; {hint}")
    return dataset


def as_json(settings: dict) -> str:
    """Canonical spelling: equal settings give equal strings (Snakemake compares params by repr)."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def differences(found: dict, expected: dict, prefix: str = "") -> list[str]:
    """'key: file has X, config has Y' for every leaf that differs."""
    lines = []
    for key in sorted(set(found) | set(expected)):
        name = f"{prefix}{key}"
        a, b = found.get(key, "<absent>"), expected.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += differences(a, b, name + ".")
        elif a != b:
            lines.append(f"{name}: file has {a!r}, config has {b!r}")
    return lines


def _normalise(values: dict) -> dict:
    cast = {
        "scenario": str,
        "size": int,
        "angle_step": float,
        "grid_step": float,
        "seed": int,
        "variant": str,
        "role": str,
    }
    return {k: None if v is None else cast[k](v) for k, v in values.items()}


def _identity(values: dict) -> str:
    names = {
        "scenario": "scenario",
        "variant": "variant",
        "size": "D",
        "angle_step": "step",
        "grid_step": "grid step",
        "seed": "seed",
        "role": "role",
    }
    return ", ".join(f"{names[k]}={values[k]}" for k in names if k in values)


def check_identity(path, what: str, found: dict, expected: dict, settings: dict | None = None) -> None:
    """Refuse a result file whose D, step, seed or settings are not what this path and config expect.

    ``found`` holds the file's ``size``/``angle_step``/``seed`` (those that apply) and
    ``onepixel_settings`` (JSON); ``expected`` the same keys from the path.
    """
    got = _normalise({key: found.get(key) for key in expected})
    if got != _normalise(expected):
        raise ResultFileError(
            f"{path}: holds the {what} of {_identity(got)}, but this path expects {_identity(expected)} "
            f"(a file copied from another result folder?); {rebuild_hint(path)}"
        )
    if settings is None:
        return
    recorded = found.get("onepixel_settings")
    if recorded is None:
        raise ResultFileError(
            f"{path}: records no settings (made by an older onepixel or another tool); {rebuild_hint(path)}"
        )
    recorded = json.loads(recorded) if isinstance(recorded, str) else recorded
    changed = differences(recorded, json.loads(as_json(settings)))
    if changed:
        shown = "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise ResultFileError(
            f"{path}: made with other settings than the config asks for ({shown}); {rebuild_hint(path)}"
        )
