import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads, uses_jax=False)

from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.tables.networks import write_network_outputs  # noqa: E402

run_stage(
    snakemake.log[0],
    write_network_outputs,
    list(snakemake.input.analyses),
    snakemake.params.universal_share,
    snakemake.params.reference,
    snakemake.config,
    dict(snakemake.output.items()),
    outputs=snakemake.output,
)
