"""What a finished study cost, per stage: jobs, job time and wall time; the search's candidates/s per D.

    python benchmarks/gpu/report.py results [--wall SECONDS]

Wall time per stage is read from the Snakemake benchmark files: each is
written when its job ends (its modification time) and records the job's
seconds, so a stage ran from its first job's start to its last job's end
(stages overlap: jobs of different stages run side by side). The search's
rate per D is every flip searched over the searches' own seconds
(``search_seconds`` of each cube), summed over the D's nets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from onepixel.study.cost import STAGES, benchmark_jobs  # noqa: E402


def stage_walls(results: Path) -> list[dict]:
    spans: dict[str, list[tuple[float, float, float]]] = {}
    for stage, _, _, seconds, _, path in benchmark_jobs(results):
        end = path.stat().st_mtime
        spans.setdefault(stage, []).append((end - seconds, end, seconds))
    return [
        {
            "stage": stage,
            "jobs": len(spans[stage]),
            "job_s": sum(s for _, _, s in spans[stage]),
            "wall_s": max(e for _, e, _ in spans[stage]) - min(b for b, _, _ in spans[stage]),
        }
        for stage in STAGES
        if stage in spans
    ]


def search_rates(results: Path) -> list[dict]:
    rates: dict[int, list[float]] = {}
    for path in sorted((results / "search").rglob("seed*.nc")):
        with xr.open_dataset(path) as cube:
            size = int(cube.sizes["row"])
            candidates = cube.sizes["image"] * size * cube.sizes["col"]
            seconds = float(cube.attrs["search_seconds"])
        total = rates.setdefault(size, [0, 0.0, 0])
        total[0] += candidates
        total[1] += seconds
        total[2] += 1
    return [
        {"size": size, "nets": n, "candidates": c, "seconds": s, "rate": c / s if s else float("nan")}
        for size, (c, s, n) in sorted(rates.items())
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the study's results folder")
    parser.add_argument("--wall", type=float, help="the whole run's wall seconds, to print beside the stages")
    args = parser.parse_args(argv)
    if not (args.results / "benchmarks").is_dir():
        print(f"error: {args.results}/benchmarks does not exist. Fix: name a finished study's results folder")
        return 1
    if args.wall is not None:
        print(f"whole run: {args.wall:.0f} s wall\n")
    print("| stage | jobs | job time s | wall s (first start to last end) |")
    print("|---|---|---|---|")
    for row in stage_walls(args.results):
        print(f"| {row['stage']} | {row['jobs']} | {row['job_s']:.0f} | {row['wall_s']:.0f} |")
    print("\n| D | nets | candidates | search s | candidates/s |")
    print("|---|---|---|---|---|")
    for row in search_rates(args.results):
        print(
            f"| {row['size']} | {row['nets']} | {row['candidates']:,} | {row['seconds']:.1f} | "
            f"{row['rate']:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
