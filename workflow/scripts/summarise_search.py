import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.logs import limit_cpu_threads  # noqa: E402

limit_cpu_threads(snakemake.threads, uses_jax=False)

from onepixel.analysis import make_summary  # noqa: E402
from onepixel.logs import run_stage  # noqa: E402
from onepixel.variants import variant_config  # noqa: E402

run_stage(
    snakemake.log[0],
    make_summary,
    snakemake.input.dataset,
    snakemake.input.cube,
    (int(snakemake.wildcards.D), float(snakemake.wildcards.step), int(snakemake.wildcards.seed)),
    variant_config(snakemake.config, snakemake.wildcards.variant),
    snakemake.output.summary,
    outputs=snakemake.output,
)
