import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads)

from onepixel.study.tables.attacks import write_attack_tables  # noqa: E402
from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.paths import parse_net_path  # noqa: E402

paths = {(Path(p).stem, *parse_net_path(p)): p for p in snakemake.input.attacks}
run_stage(
    snakemake.log[0],
    write_attack_tables,
    paths,
    snakemake.config,
    dict(snakemake.output.items()),
    outputs=snakemake.output,
)
