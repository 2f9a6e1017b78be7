"""What the benchmark scripts share: a checkout of the git ref to compare with, child processes, tables.

Each measurement runs in its own child process, with the code of one tree on
its ``PYTHONPATH`` (the working tree or a ``git worktree`` of the ref given on
the command line), so the old and the new code are measured side by side in
one run and the peak memory printed is that process's alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCHMARK-RESULT "


@contextlib.contextmanager
def checkout(ref: str):
    """A detached ``git worktree`` of ``ref`` in a temporary folder, removed afterwards."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True
    )
    if commit.returncode != 0:
        raise SystemExit(f"error: --ref {ref!r} is not a commit of {REPO}. Fix: name a branch, tag or commit")
    folder = Path(tempfile.mkdtemp(prefix="onepixel-ref-"))
    subprocess.run(
        [
            "git",
            "-C",
            str(REPO),
            "worktree",
            "add",
            "--detach",
            "--quiet",
            str(folder),
            commit.stdout.strip(),
        ],
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=False)


def run_child(script: str, tree: Path, args: list[str]) -> dict:
    """Run ``script --child ...`` with ``tree``'s onepixel first on the path; its JSON result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(REPO / "benchmarks")])}
    # Compiled code from one tree must not stand in for the other's.
    env["ONEPIXEL_COMPILATION_CACHE"] = "0"
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--child", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
    )
    if run.returncode != 0:
        raise SystemExit(
            f"error: the child {script} {' '.join(args)} in {tree} failed:\n{run.stderr[-3000:]}"
        )
    line = next(line for line in reversed(run.stdout.splitlines()) if line.startswith(RESULT_PREFIX))
    result = json.loads(line[len(RESULT_PREFIX) :])
    imported = Path(result["onepixel"]).resolve()
    if not imported.is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"error: the child {script} measured {imported}, not the tree {tree}")
    return result


def report(result: dict) -> None:
    """A child's last line: its result, with this process's peak memory."""
    import onepixel

    result = {**result, "peak_mb": peak_rss_mb(), "onepixel": onepixel.__file__}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: a child does not inherit its parent's)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_core(eigen_convolutions: bool = False) -> None:
    """One XLA thread, as a workflow job runs; in whichever layout the tree under test has."""
    try:
        from onepixel.study.runtime import limit_cpu_threads
    except ImportError:
        from onepixel.logs import limit_cpu_threads
    limit_cpu_threads(1, eigen_convolutions=eigen_convolutions)


def paper_images(size: int, step: float) -> tuple:
    """The searched images and labels of the paper's dataset of (D, step), built by this tree's code."""
    import yaml

    from onepixel.data.lines import build_dataset, selected_images
    from onepixel.study.config import validate_config

    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    dataset = build_dataset(size, step, config)
    chosen = selected_images(dataset, True)
    return dataset["images"].values[chosen], dataset["label"].values[chosen].astype("int64")


def network(size: int, step: float, models: Path, work: Path, conv_channels=(32, 32)) -> str:
    """Save the searched images and a network's weights in ``work``; where the weights came from.

    A trained net of ``models`` is used where it has these conv channels, else random weights.
    """
    import jax

    from onepixel.models.architecture import Architecture
    from onepixel.models.cnn import init_params

    images, _ = paper_images(size, step)
    np.save(work / "images.npy", images)
    trained = models / f"D{size}_step{step}" / "seed0"
    if (trained / "params.msgpack").exists():
        from onepixel.training.checkpoint import load_network

        loaded = load_network(trained)
        if loaded.model.arch.conv_channels == tuple(conv_channels):
            save_params(loaded.params, work / "params.msgpack")
            return str(trained)
    arch = Architecture(size, conv_channels=tuple(conv_channels))
    save_params(init_params(arch, jax.random.key(0)), work / "params.msgpack")
    return "random weights"


def save_params(params, path: Path) -> None:
    """Weights as msgpack (flax.serialization, no pickle), readable by any tree's child."""
    from flax import serialization

    path.write_bytes(serialization.msgpack_serialize(params))


def load_params(path: Path):
    from flax import serialization

    return serialization.msgpack_restore(Path(path).read_bytes())


def parser(doc: str, step: float, child_args: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The options every benchmark takes (the ref, sizes, angle step) and its children's hidden ones."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="the git ref to compare with (default: HEAD)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 80])
    parser.add_argument("--step", type=float, default=step)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    for name in child_args:
        parser.add_argument(name, help=argparse.SUPPRESS)
    return parser


def markdown(header: list[str], rows: list[list]) -> str:
    """A Markdown table; the delimiter row has one cell per header cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
