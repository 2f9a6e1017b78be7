"""What each result depends on: the config sections that enter its computation.

A result's settings are its rule's ``params:`` (so Snakemake reruns exactly the
jobs a config change affects) and are recorded in the result file (so a later
stage refuses a file made under other settings, e.g. copied from another study).
Settings are per image size D: ``dataset.length_min_by_size`` only touches the
sizes it names.
"""

from __future__ import annotations

from onepixel.study.scenarios import LINES, scenario_of, scenario_options


def dataset_settings(config: dict, size: int) -> dict:
    """What a dataset file of size D is built from (a net config's, or a study's of one scenario).

    The lines: their rasteriser, lengths and positive range (as before the
    scenarios came, so the paper's files stay valid); any other scenario: its
    name and generator options.
    """
    scenario = scenario_of(config)
    if scenario != LINES:
        return {"scenario": scenario, "options": scenario_options(config, scenario)}
    dataset = config["dataset"]
    by_size = {str(k): v for k, v in (dataset.get("length_min_by_size") or {}).items()}
    return {
        "rasterizer": dataset["rasterizer"],
        "length_min": int(by_size.get(str(size), dataset["length_min"])),
        "length_max_margin": int(dataset["length_max_margin"]),
        "positive_range_deg": [float(v) for v in dataset["positive_range_deg"]],
    }


def training_settings(config: dict, size: int) -> dict:
    """What a trained network depends on: its dataset, which images, the model, the training."""
    return {
        "dataset": dataset_settings(config, size),
        "exclude_ambiguous": bool(config["dataset"]["exclude_ambiguous"]),
        "model": {k: config["model"][k] for k in sorted(config["model"])},
        "training": {k: config["training"][k] for k in sorted(config["training"])},
    }


def round_settings(config: dict, size: int) -> dict:
    """An adversarial-training round's net: its training settings but the round cap (more rounds reuse it)."""
    settings = training_settings(config, size)
    settings["training"] = {k: v for k, v in settings["training"].items() if k != "adversarial_rounds"}
    return settings


def round_zero_twin(net_configs: dict, key: str, size: int) -> str | None:
    """The net key whose net is adversarial variant ``key``'s round 0 at D, or None.

    Round 0 is the plain training under the variant's settings: a net of the
    study without rounds of its own and with the same dataset, model, training
    and search settings at D is that net (the same seed gives the same
    weights), so round 0 is taken from its files instead of trained again.
    """

    def round_zero(config):
        return {**round_settings(config, size), "search": dict(config["search"])}

    own = round_zero(net_configs[key])
    for other, config in net_configs.items():
        if other != key and not config["training"].get("adversarial_rounds") and round_zero(config) == own:
            return other
    return None


def search_settings(config: dict, size: int) -> dict:
    """What a flip cube (and its per-network summary) depends on."""
    return {**training_settings(config, size), "search": dict(config["search"])}


ATTACK_BUDGET_KEYS = {"de": "de_max_iter", "random": "random_budget", "gradient": "gradient_budget"}


def attack_settings(config: dict, size: int, method: str) -> dict:
    """What an attack's result on a net depends on: the net's search, which images, the attack's budget."""
    attacks = config["attacks"]
    chosen = (
        "vulnerable_per_net",
        "invulnerable_per_net",
        "seed",
        "answers_from_search",
        ATTACK_BUDGET_KEYS[method],
    )
    return {**search_settings(config, size), "attack": {"method": method, **{k: attacks[k] for k in chosen}}}


def study_settings(config: dict) -> dict:
    """What a net config's tables depend on besides their inputs (Table 1 rebuilds datasets).

    The dataset keys of its own scenario only: another scenario's grid does not touch them.
    """
    settings = {key: config[key] for key in ("model", "training", "search")}
    dataset = {k: v for k, v in config["dataset"].items() if k not in ("scenario", "grids")}
    scenario = scenario_of(config)
    if scenario != LINES:
        dataset = {
            "scenario": scenario,
            "grid": config["dataset"]["grids"][scenario],
            "exclude_ambiguous": config["dataset"]["exclude_ambiguous"],
        }
    return {"dataset": dataset, **settings}


def figure_settings(config: dict, size: int, figure: str) -> dict:
    """Fig. 2 draws a dataset; the others draw search results; Fig. 4 also its angle window."""
    if figure == "fig2_examples":
        return dataset_settings(config, size)
    settings = search_settings(config, size)
    if figure == "fig4_likelihood":
        settings["analysis"] = {"window_deg": config["analysis"]["window_deg"]}
    return settings
