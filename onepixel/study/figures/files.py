"""The study's figure jobs: read a study's files (checked), draw the figure from their data, save it."""

from __future__ import annotations

from onepixel.study.figures import paper, scenarios, variants
from onepixel.study.figures.common import save_figure
from onepixel.study.inputs import open_dataset, open_summary
from onepixel.study.scenarios import LINES, make_scenario, scenario_of
from onepixel.study.variants import variant_config, variant_names


def summary_groups(summary_paths: dict, config: dict) -> dict:
    """{(D, step, seed): path} of one variant -> {(D, step): [summary per seed]}."""
    groups: dict = {}
    for key, path in sorted(summary_paths.items()):
        groups.setdefault(key[:2], []).append(open_summary(path, *key, config))
    return groups


def variant_groups(summary_paths: dict, config: dict) -> tuple[dict, list[str]]:
    """{(variant, D, step, seed): path} -> {(variant, D, step): [summary per seed]}, and the variants
    that have nets, in the config's order."""
    nets = {v: variant_config(config, v) for v in variant_names(config)}
    groups: dict = {}
    for (variant, size, step, seed), path in sorted(summary_paths.items()):
        groups.setdefault((variant, size, step), []).append(
            open_summary(path, size, step, seed, nets[variant])
        )
    return groups, [v for v in nets if any(k[0] == v for k in groups)]


def figure2_examples(dataset_path, key, config, png, pdf) -> None:
    dataset = open_dataset(dataset_path, *key, config)
    figure = paper.fig2_examples(dataset, config["dataset"]["positive_range_deg"])
    save_figure(figure, png, pdf, config, "Fig. 2 example images")


def figure3_adversarial(cube, confirmations, config, png, pdf) -> None:
    save_figure(paper.fig3_adversarial(cube, confirmations), png, pdf, config, "Fig. 3 adversarial example")


def figure4_likelihood(summary_paths, config, png, pdf) -> None:
    groups = summary_groups(summary_paths, config)
    scenario = scenario_of(config)
    if scenario != LINES:
        units = make_scenario(config, scenario).distance_units
        figure = scenarios.fig4_boundary_likelihood(groups, scenario, units)
        save_figure(figure, png, pdf, config, f"Fig. 4 ({scenario}) likelihood against boundary distance")
        return
    figure = paper.fig4_likelihood(
        groups, config["dataset"]["positive_range_deg"], config["analysis"]["window_deg"]
    )
    save_figure(figure, png, pdf, config, "Fig. 4 likelihood against angle")


def figure5_heatmaps(summary_paths, config, png, pdf) -> None:
    groups, scenario = summary_groups(summary_paths, config), scenario_of(config)
    if scenario == LINES:
        figure = paper.fig5_heatmaps(groups, config["dataset"])
    else:
        figure = scenarios.fig5_near_heatmaps(groups, scenario)
    save_figure(figure, png, pdf, config, "Fig. 5 heatmaps")


def figure6_redundancy(summary_paths, config, png, pdf) -> None:
    scenario = scenario_of(config)
    if scenario == LINES:
        figure = paper.fig6_redundancy(summary_groups(summary_paths, config))
    else:
        figure = paper.fig6_redundancy(summary_groups(summary_paths, config), "", f"Fig. 6 ({scenario})")
    save_figure(figure, png, pdf, config, "Fig. 6 rate against redundancy")


def figure_variants_rate(summary_paths: dict, config: dict, png, pdf) -> None:
    groups, drawn = variant_groups(summary_paths, config)
    save_figure(variants.variants_rate(groups, drawn), png, pdf, config, "Variants: rate against D")


def figure_variants_heatmaps(summary_paths: dict, config: dict, png, pdf) -> None:
    groups, drawn = variant_groups(summary_paths, config)
    figure = variants.variants_heatmaps(groups, drawn, config["dataset"])
    save_figure(figure, png, pdf, config, "Variants: Fig. 5 heatmaps")
