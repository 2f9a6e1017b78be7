"""Study variants: named overrides of the model and training keys (defences, deeper nets).

A variant's *net config* is the study config with the variant's ``model`` and
``training`` overrides merged in and ``variant`` set to its name; every stage
of a variant's nets reads that config, so settings, provenance and the
identity checks of its files are those of the variant. Datasets do not depend
on the variant and are shared.
"""

from __future__ import annotations

import copy

from onepixel.models.architecture import Architecture

REFERENCE_VARIANT = "paper"


def variant_names(config: dict) -> list[str]:
    """The variants of a validated config, in its order."""
    return list(config["variants"])


def reference_variant(config: dict) -> str:
    """The variant every other is compared with: ``paper``, else the first listed."""
    names = variant_names(config)
    return REFERENCE_VARIANT if REFERENCE_VARIANT in names else names[0]


def merge_overrides(config: dict, overrides: dict) -> dict:
    """A copy of ``config`` with ``overrides`` (``{"model": {...}, "training": {...}}``) merged in."""
    merged = copy.deepcopy(config)
    for section, values in (overrides or {}).items():
        merged[section] = {**merged[section], **copy.deepcopy(values)}
    return merged


def variant_config(config: dict, name: str) -> dict:
    """The net config of variant ``name``: what its training, search and summaries read.

    ``name`` may carry a scenario level, ``ellipses/paper`` (a net key of
    ``onepixel.study.scenarios``): the net config's ``dataset.scenario`` is
    then that one scenario; a plain name is the lines' (or the study's only
    scenario's) variant.
    """
    scenario, _, name = name.rpartition("/")
    variants = config["variants"]
    if name not in variants:
        raise KeyError(f"variant {name!r} is not in the config's variants {sorted(variants)}")
    merged = merge_overrides({k: v for k, v in config.items() if k != "variants"}, variants[name])
    merged["variant"] = name
    if "dataset" in merged:
        chosen = merged["dataset"].get("scenario", "lines")
        # No scenario level: the lines', or the study's one scenario's.
        scenario = scenario or (chosen if isinstance(chosen, str) else "lines")
        merged["dataset"] = {**merged["dataset"], "scenario": scenario}
    return merged


def config_variant(config: dict) -> str:
    """The variant a net config belongs to (a study config without variants: the reference)."""
    return config.get("variant", REFERENCE_VARIANT)


def fit_problem(config: dict, size: int) -> str | None:
    """Why a net config's network does not fit D = ``size`` (None if it does)."""
    try:
        Architecture.from_config(size, config["model"])
    except ValueError as error:
        return str(error)
    return None


def variant_sizes(config: dict, name: str) -> tuple[list[int], dict[int, str]]:
    """The sizes a variant's net fits, and the skipped ones with the reason."""
    net_config = variant_config(config, name)
    fits, skipped = [], {}
    for size in config["sizes"]:
        problem = fit_problem(net_config, size)
        if problem is None:
            fits.append(size)
        else:
            skipped[size] = problem
    return fits, skipped


def training_kind(config: dict) -> str:
    """How a net config's nets are trained: plain, distillation (teacher + student) or adversarial rounds."""
    training = config["training"]
    if training.get("distillation_temperature") is not None:
        return "distillation"
    if training.get("adversarial_rounds", 0) > 0:
        return "adversarial"
    return "plain"
