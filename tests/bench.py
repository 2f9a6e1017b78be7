"""The benchmark scripts (benchmarks/*.py, outside the package), run the way a user runs them."""

import subprocess
import sys

from .conftest import REPO


def run_benchmark(script: str, *args: str) -> str:
    """``python benchmarks/<script> ARGS``: its standard output (it fails the test if it fails)."""
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def table_row(output: str, first_cell: str) -> list[str]:
    row = next(line for line in output.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]
