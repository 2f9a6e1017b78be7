import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.logs import limit_cpu_threads  # noqa: E402

limit_cpu_threads(snakemake.threads)

from onepixel import figures  # noqa: E402
from onepixel.logs import parse_result_path, run_stage  # noqa: E402
from onepixel.stages import confirm_adversarial_flips  # noqa: E402


def draw():
    out = (snakemake.config, snakemake.output.png, snakemake.output.pdf)
    name = Path(snakemake.output.png).stem
    if name == "fig2_examples":
        key = parse_result_path(snakemake.input.dataset)
        figures.figure2_examples(snakemake.input.dataset, key, *out)
    elif name == "fig3_adversarial":
        cube, confirmed = confirm_adversarial_flips(
            snakemake.input.dataset,
            snakemake.input.cube,
            snakemake.input.params,
            snakemake.input.summary,
            parse_result_path(snakemake.input.cube),
            snakemake.config,
        )
        figures.figure3_adversarial(cube, confirmed, *out)
    else:
        summaries = {parse_result_path(p): p for p in snakemake.input.summaries}
        {
            "fig4_likelihood": figures.figure4_likelihood,
            "fig5_heatmaps": figures.figure5_heatmaps,
            "fig6_redundancy": figures.figure6_redundancy,
        }[name](summaries, *out)


run_stage(snakemake.log[0], draw, outputs=snakemake.output)
