import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads)

from onepixel.study.figures import files as figures  # noqa: E402
from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.paths import parse_net_path, parse_result_path  # noqa: E402
from onepixel.study.search_stage import confirm_adversarial_flips  # noqa: E402
from onepixel.study.scenarios import LINES, single_scenario_config  # noqa: E402
from onepixel.study.variants import variant_config  # noqa: E402

# Fig. 2 and the variant figures are the lines' (a study may run other scenarios too).
lines_config = single_scenario_config(snakemake.config, LINES)


def draw():
    out = (snakemake.output.png, snakemake.output.pdf)
    name = Path(snakemake.output.png).stem
    if name == "fig2_examples":
        key = parse_result_path(snakemake.input.dataset)
        figures.figure2_examples(snakemake.input.dataset, key, lines_config, *out)
    elif name.startswith("variants_"):
        summaries = {parse_net_path(p): p for p in snakemake.input.summaries}
        draw_variants = {
            "variants_rate": figures.figure_variants_rate,
            "variants_heatmaps": figures.figure_variants_heatmaps,
        }[name]
        draw_variants(summaries, lines_config, *out)
    elif name == "fig3_adversarial":
        net_config = variant_config(snakemake.config, snakemake.wildcards.variant)
        cube, confirmed = confirm_adversarial_flips(
            snakemake.input.dataset,
            snakemake.input.cube,
            snakemake.input.params,
            snakemake.input.summary,
            parse_result_path(snakemake.input.cube),
            net_config,
        )
        figures.figure3_adversarial(cube, confirmed, net_config, *out)
    else:
        net_config = variant_config(snakemake.config, snakemake.wildcards.variant)
        summaries = {parse_net_path(p)[1:]: p for p in snakemake.input.summaries}
        {
            "fig4_likelihood": figures.figure4_likelihood,
            "fig5_heatmaps": figures.figure5_heatmaps,
            "fig6_redundancy": figures.figure6_redundancy,
        }[name](summaries, net_config, *out)


run_stage(snakemake.log[0], draw, outputs=snakemake.output)
