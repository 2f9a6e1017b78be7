import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads)

from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.dataset_stage import make_dataset  # noqa: E402
from onepixel.study.scenarios import LINES, single_scenario_config  # noqa: E402

# The config of the dataset's one scenario (a study may run several).
scenario_config = single_scenario_config(snakemake.config, snakemake.wildcards.get("scenario", LINES))

run_stage(
    snakemake.log[0],
    make_dataset,
    int(snakemake.wildcards.D),
    float(snakemake.wildcards.step),
    scenario_config,
    snakemake.output.dataset,
    outputs=snakemake.output,
)
