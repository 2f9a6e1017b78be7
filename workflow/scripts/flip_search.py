import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads)

from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.search_stage import run_search  # noqa: E402
from onepixel.study.variants import variant_config  # noqa: E402

run_stage(
    snakemake.log[0],
    run_search,
    snakemake.input.dataset,
    snakemake.input.params,
    snakemake.input.summary,
    int(snakemake.wildcards.D),
    float(snakemake.wildcards.step),
    int(snakemake.wildcards.seed),
    variant_config(snakemake.config, snakemake.wildcards.variant),
    snakemake.output.cube,
    role=snakemake.params.role,
    # The per-net summary (rule flip_search; adversarial-training rounds have none).
    search_summary_out=snakemake.output.get("summary"),
    # Adversarial round 0 of a study that has the same net: that net's cube.
    twin=(
        (snakemake.input.twin_cube, variant_config(snakemake.config, snakemake.params.twin))
        if "twin_cube" in snakemake.input.keys()
        else None
    ),
    outputs=snakemake.output,
)
