"""What a result path names: (variant, D, step, seed) and which net of a variant."""

from __future__ import annotations

import re


def parse_result_path(path) -> tuple:
    """(D, step[, seed]) from a result path such as .../D32_step1.0/seed3.nc."""
    match = re.search(r"D(\d+)_step(\d+\.\d+)(?:/seed(\d+))?", str(path))
    if not match:
        raise ValueError(f"cannot read D, step, seed from path {path}")
    size, step, seed = match.groups()
    key = (int(size), float(step))
    return key + ((int(seed),) if seed is not None else ())


def parse_net_path(path) -> tuple[str, int, float, int]:
    """(variant, D, step, seed) from a net's path such as results/search/paper/D32_step1.0/seed3.nc."""
    match = re.search(r"([A-Za-z][A-Za-z0-9_]*)/D(\d+)_step(\d+\.\d+)/seed(\d+)", str(path))
    if not match:
        raise ValueError(f"cannot read variant, D, step, seed from path {path}")
    variant, size, step, seed = match.groups()
    return variant, int(size), float(step), int(seed)


def path_role(path) -> str:
    """Which net of a variant a path holds: ``teacher``, ``round<r>`` or ``net``."""
    text = str(path)
    found = re.search(r"/round(\d+)/", text)
    if found:
        return f"round{found.group(1)}"
    return "teacher" if "/teachers/" in text else "net"
