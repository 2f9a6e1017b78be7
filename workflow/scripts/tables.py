import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads, uses_jax=False)

from onepixel.study.tables.paper import write_tables  # noqa: E402
from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.paths import parse_net_path, parse_result_path, path_role  # noqa: E402
from onepixel.study.scenarios import LINES, single_scenario_config  # noqa: E402


def keyed(paths):
    return {parse_result_path(p): p for p in paths}


def nets(paths, with_role=False):
    return {parse_net_path(p) + ((path_role(p),) if with_role else ()): p for p in paths}


run_stage(
    snakemake.log[0],
    write_tables,
    keyed(snakemake.input.datasets),
    nets(snakemake.input.summaries),
    nets(snakemake.input.training),
    nets(snakemake.input.extra_training, with_role=True),
    snakemake.input.paper,
    # The paper's tables are the lines' (a study may run other scenarios too).
    single_scenario_config(snakemake.config, LINES),
    dict(snakemake.output.items()),
    outputs=snakemake.output,
)
