import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads)

from onepixel.study.attack_stage import METHODS, run_attacks  # noqa: E402
from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.variants import variant_config  # noqa: E402

run_stage(
    snakemake.log[0],
    run_attacks,
    snakemake.input.dataset,
    snakemake.input.cube,
    snakemake.input.params,
    snakemake.input.summary,
    int(snakemake.wildcards.D),
    float(snakemake.wildcards.step),
    int(snakemake.wildcards.seed),
    variant_config(snakemake.config, snakemake.wildcards.variant),
    # One result file per attack, in the config's order.
    {method: path for method, path in snakemake.output.items() if method in METHODS},
    outputs=snakemake.output,
)
