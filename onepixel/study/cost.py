"""What a study cost: job time per stage, variant and D from its Snakemake benchmark files."""

from __future__ import annotations

import csv
import re
from pathlib import Path

STAGES = ("dataset", "teacher", "train", "round", "search", "round_search", "attack")
BENCHMARK_NAME = re.compile(r"D(\d+)_step([\d.]+)(?:_seed(\d+))?(?:_round\d+|_de|_random|_gradient)?\.tsv$")


def benchmark_jobs(results):
    """(stage, variant, D, wall seconds, max RSS MB, path) of each job's Snakemake benchmark file.

    ``results``: a study's results folder; its ``benchmarks/<stage>/[<variant>/]*.tsv``
    files are Snakemake's ``benchmark:`` records, one per job.
    """
    for stage in STAGES:
        stage_dir = Path(results) / "benchmarks" / stage
        for path in sorted(stage_dir.rglob("*.tsv")):
            match = BENCHMARK_NAME.search(path.name)
            if not match:
                continue
            # Datasets have no variant level.
            variant = path.parent.name if path.parent != stage_dir else "-"
            with path.open() as handle:
                record = next(csv.DictReader(handle, delimiter="\t"))
            yield stage, variant, int(match.group(1)), float(record["s"]), float(record["max_rss"]), path


def stage_costs(results) -> list[dict]:
    """A row per (stage, variant, D): jobs, total, mean and max wall seconds, max RSS (``benchmark_jobs``)."""
    jobs: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for stage, variant, size, seconds, rss, _ in benchmark_jobs(results):
        jobs.setdefault((stage, variant, size), []).append((seconds, rss))
    rows = []
    order = {stage: i for i, stage in enumerate(STAGES)}
    for (stage, variant, size), records in sorted(jobs.items(), key=lambda kv: (order[kv[0][0]], *kv[0][1:])):
        seconds = [s for s, _ in records]
        rows.append(
            {
                "stage": stage,
                "variant": variant,
                "size": size,
                "jobs": len(seconds),
                "total_s": sum(seconds),
                "mean_s": sum(seconds) / len(seconds),
                "max_s": max(seconds),
                "max_rss_mb": max(rss for _, rss in records),
            }
        )
    return rows


def cost_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, then the total job time."""
    lines = [
        "| stage | variant | D | jobs | total s | mean s | max s | max RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['stage']} | {r['variant']} | {r['size']} | {r['jobs']} | {r['total_s']:.0f} | "
            f"{r['mean_s']:.1f} | {r['max_s']:.1f} | {r['max_rss_mb']:.0f} |"
        )
    total = sum(r["total_s"] for r in rows)
    lines.append(
        f"total job time: {total:.0f} s ({total / 3600:.2f} h); wall time on N cores is at least total / N"
    )
    lines.append(
        "max RSS: Snakemake's record of the job's process; a job run by the warm process "
        "(logs/warm_process.log) is recorded at the size of the process that handed it over: "
        "its own peak memory is the last line of its log"
    )
    return "\n".join(lines)
