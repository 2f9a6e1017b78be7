import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads)

from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.network_stage import run_network_analysis  # noqa: E402
from onepixel.study.scenarios import net_key, parse_scenario_path  # noqa: E402


def net_of(path):
    scenario, variant, _, _, seed = parse_scenario_path(path)
    return net_key(scenario, variant), seed


given = snakemake.input
models = {
    net_of(params): (summary, params) for summary, params in zip(given.summaries, given.params, strict=True)
}
run_stage(
    snakemake.log[0],
    run_network_analysis,
    given.dataset,
    {net_of(path): path for path in given.cubes},
    models,
    int(snakemake.wildcards.D),
    float(snakemake.wildcards.step),
    snakemake.config,
    snakemake.output.analysis,
    outputs=snakemake.output,
)
