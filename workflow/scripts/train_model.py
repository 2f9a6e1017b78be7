import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.logs import limit_cpu_threads  # noqa: E402

limit_cpu_threads(snakemake.threads, eigen_convolutions=True)

from onepixel.logs import run_stage  # noqa: E402
from onepixel.stages import train_model  # noqa: E402

run_stage(
    snakemake.log[0],
    train_model,
    snakemake.input.dataset,
    int(snakemake.wildcards.D),
    float(snakemake.wildcards.step),
    int(snakemake.wildcards.seed),
    snakemake.config,
    snakemake.output.params,
    snakemake.output.history,
    snakemake.output.summary,
    outputs=snakemake.output,
)
