import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads, uses_jax=False)

from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.scenarios import parse_scenario_path  # noqa: E402
from onepixel.study.tables.scenarios import write_tables  # noqa: E402


def keyed(paths):
    return {parse_scenario_path(p): p for p in paths}


run_stage(
    snakemake.log[0],
    write_tables,
    keyed(snakemake.input.datasets),
    keyed(snakemake.input.summaries),
    keyed(snakemake.input.line_cubes),
    keyed(snakemake.input.training),
    snakemake.config,
    dict(snakemake.output.items()),
    outputs=snakemake.output,
)
