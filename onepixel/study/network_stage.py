"""The cross-network stage: per (scenario, D, step), every net's cube read once, the exact counts written.

For the nets of one dataset (each variant's seeds): transfer between every
ordered pair, the mean-logit and majority-vote ensembles of each variant's
seeds, each net's adversarial flips per class and pixel (universal pixels),
and how well each per-image predictor separates vulnerable from robust images
(``onepixel.analysis.networks``). The ensemble's decisions come from the
members' margins; a sample of its candidates (every adversarial one up to a
cap, random others, every one within the search tolerance of 0) is re-checked
by a plain forward pass of the members, and the job stops if one differs.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from onepixel.analysis.networks import (
    auc,
    class_pixel_counts,
    ensemble_margin,
    majority_wrong,
    transfer,
    wrong_from_margin,
)
from onepixel.io import annotate, read_netcdf, write_netcdf
from onepixel.study.provenance import provenance_attrs
from onepixel.study.scenario_summary import distance_bins, pixel_object_distance
from onepixel.study.scenarios import LINES, image_boundary_distance, scenario_of

log = logging.getLogger("onepixel")

NETWORKS_KIND = "network_analysis"
# Candidates of each ensemble re-checked by a plain forward pass of its members.
CHECK_ADVERSARIAL, CHECK_RANDOM = 200, 200
PREDICTORS = ("clean_margin", "boundary_distance", "set_pixels", "length")
NETWORKS_META = {
    "transfer_share": ("share of net's adversarial flips that are adversarial for net_b", "1"),
    "jaccard": ("Jaccard index of the two nets' sets of adversarial flips", "1"),
    "n_shared": ("flips adversarial for both nets", "1"),
    "n_adversarial": ("adversarial flips of the net", "1"),
    "ensemble_adversarial": ("adversarial flips of the mean-logit ensemble of the group's seeds", "1"),
    "majority_adversarial": ("adversarial flips of the majority vote of the group's seeds", "1"),
    "members_adversarial_mean": ("mean adversarial flips of the group's nets", "1"),
    "ensemble_checked": ("ensemble candidates re-checked by a plain forward pass (all agreed)", "1"),
    "ensemble_unsure": ("ensemble margins within the search tolerance of 0 (re-checked)", "1"),
    "class_pixel_adversarial": ("images of the class whose flip at this pixel is adversarial", "1"),
    "class_images": ("searched images of the class", "1"),
    "predictor_auc": ("ROC AUC of the predictor's value for vulnerable against robust images", "1"),
    "predictor_vulnerable_share": (
        "share of vulnerable images among those in this quartile of the predictor",
        "1",
    ),
    "vulnerable": ("images with at least one adversarial flip", "1"),
    "flip_distance_adversarial": ("adversarial flips at this distance of the pixel from the object", "1"),
    "flip_distance_candidates": ("candidate flips at this distance of the pixel from the object", "1"),
}


def image_predictors(dataset: xr.Dataset, cube: xr.Dataset, config: dict) -> dict[str, np.ndarray]:
    """Per searched image: clean margin, |distance to the boundary|, set pixels and (lines) length."""
    searched = cube["image"].values
    images = dataset["images"].values[searched]
    if scenario_of(config) == LINES:
        length = dataset["rep_length"].values[searched].astype(float)
    else:
        length = np.full(len(searched), np.nan)
    return {
        "clean_margin": cube["base_margin"].values.astype(float),
        "boundary_distance": np.abs(image_boundary_distance(dataset, config)[searched]),
        "set_pixels": images.reshape(len(images), -1).sum(axis=1).astype(float),
        "length": length,
    }


def analyse_networks(
    dataset, cubes: dict, members: dict | None, config: dict, tolerance: float
) -> xr.Dataset:
    """The cross-network counts of the nets of one dataset.

    ``cubes``: {(net key, seed): cube}, all of the dataset's searched images;
    ``members``: {(net key, seed): (arch, params)} for the ensemble re-check
    (None: no re-check); ``config``: a net config of the scenario (its dataset
    keys); ``tolerance``: how far a stored margin may be from a plain pass.
    """
    nets = sorted(cubes)
    first = cubes[nets[0]]
    for key in nets[1:]:
        if not np.array_equal(cubes[key]["image"].values, first["image"].values):
            raise ValueError(f"net {key} was searched on other images than net {nets[0]}")
    size = first.sizes["row"]
    label = first["label"].values.astype(np.int64)
    adversarial = {key: cubes[key]["adversarial"].values.astype(bool) for key in nets}
    n = len(nets)
    share, jaccard, shared = np.full((n, n), np.nan), np.full((n, n), np.nan), np.zeros((n, n), np.int64)
    for i, a in enumerate(nets):
        for j, b in enumerate(nets):
            share[i, j], jaccard[i, j], _, _, shared[i, j] = transfer(adversarial[a], adversarial[b])
    groups = list(dict.fromkeys(key for key, _ in nets))
    ensemble, majority, mean_members, checked, unsure_counts = [], [], [], [], []
    on_manifold = first["on_manifold"].values.astype(bool)
    for group in groups:
        seeds = [key for key in nets if key[0] == group]
        margins = [cubes[key]["margin"].values for key in seeds]
        mean, unsure = ensemble_margin(margins, tolerance)
        wrong = wrong_from_margin(mean, label)
        if unsure.any():
            # Too close to 0 for the stored margins to decide: a plain forward pass of the members does.
            if members is None:
                raise ValueError(
                    f"{group}: {int(unsure.sum())} ensemble margins within {tolerance} of 0 need the nets"
                )
            where = np.flatnonzero(unsure)
            wrong.reshape(-1)[where] = plain_ensemble_wrong(
                dataset, first, [members[k] for k in seeds], where
            )
        wrong_each = [cubes[key]["misclassified"].values.astype(bool) for key in seeds]
        vote = majority_wrong(wrong_each)
        ensemble.append(int(np.count_nonzero(wrong & ~on_manifold)))
        majority.append(int(np.count_nonzero(vote & ~on_manifold)))
        mean_members.append(float(np.mean([adversarial[key].sum() for key in seeds])))
        unsure_counts.append(int(unsure.sum()))
        if members is not None and len(seeds) > 1:
            picks = check_sample(wrong & ~on_manifold, unsure, seed=len(checked))
            checked.append(check_ensemble(dataset, first, [members[key] for key in seeds], picks, wrong))
        else:
            checked.append(0)
    counts = np.stack([class_pixel_counts(adversarial[key], label)[0] for key in nets])
    class_images = np.bincount(label, minlength=counts.shape[1]).astype(np.int64)
    predictor_auc = np.full((n, len(PREDICTORS)), np.nan)
    quartile_share = np.full((n, len(PREDICTORS), 4), np.nan)
    vulnerable = np.zeros(n, np.int64)
    object_distance = pixel_object_distance(dataset["images"].values[first["image"].values])
    bins = distance_bins(size)
    flip_adv, flip_all = np.zeros((n, bins), np.int64), np.zeros((n, bins), np.int64)
    flip_all[:] = np.bincount(object_distance[~on_manifold], minlength=bins)
    for i, key in enumerate(nets):
        values = image_predictors(dataset, cubes[key], config)
        is_vulnerable = cubes[key]["n_adversarial"].values > 0
        vulnerable[i] = int(is_vulnerable.sum())
        for p, name in enumerate(PREDICTORS):
            if np.isfinite(values[name]).all():
                predictor_auc[i, p] = auc(values[name], is_vulnerable)
                quartile_share[i, p] = quartile_shares(values[name], is_vulnerable)
        flip_adv[i] = np.bincount(object_distance[adversarial[key]], minlength=bins)
    result = xr.Dataset(
        data_vars={
            "transfer_share": (("net", "net_b"), share),
            "jaccard": (("net", "net_b"), jaccard),
            "n_shared": (("net", "net_b"), shared),
            "n_adversarial": ("net", np.array([adversarial[k].sum() for k in nets], np.int64)),
            "ensemble_adversarial": ("group", np.array(ensemble, np.int64)),
            "majority_adversarial": ("group", np.array(majority, np.int64)),
            "members_adversarial_mean": ("group", np.array(mean_members)),
            "ensemble_checked": ("group", np.array(checked, np.int64)),
            "ensemble_unsure": ("group", np.array(unsure_counts, np.int64)),
            "class_pixel_adversarial": (("net", "class", "row", "col"), counts),
            "class_images": ("class", class_images),
            "predictor_auc": (("net", "predictor"), predictor_auc),
            "predictor_vulnerable_share": (("net", "predictor", "quartile"), quartile_share),
            "vulnerable": ("net", vulnerable),
            "flip_distance_adversarial": (("net", "object_distance"), flip_adv),
            "flip_distance_candidates": (("net", "object_distance"), flip_all),
        },
        coords={
            "net_key": ("net", [k for k, _ in nets]),
            "seed": ("net", np.array([s for _, s in nets], np.int64)),
            "net_b_key": ("net_b", [k for k, _ in nets]),
            "seed_b": ("net_b", np.array([s for _, s in nets], np.int64)),
            "group": groups,
            "class": [0, 1],
            "predictor": list(PREDICTORS),
            "quartile": [1, 2, 3, 4],
            "object_distance": np.arange(bins),
        },
    )
    annotate(result, NETWORKS_META)
    result["object_distance"].attrs.update(
        long_name="pixel's distance from the nearest object pixel, rounded up"
    )
    result["object_distance"].attrs["units"] = "px"
    # The study's rate: adversarial flips over all N D^2 flips (ADV / (N D^2)), as in the cubes.
    n_candidates = int(on_manifold.size)
    result.attrs.update(n_images=int(first.sizes["image"]), n_candidates=n_candidates, size=size)
    return result


def quartile_shares(values: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """The share of positives among the images in each quartile of ``values`` (lowest first).

    Images are ranked by value, ties broken by their order, and cut into four
    groups as equal as can be, so tied values do not leave a quartile empty.
    """
    order = np.argsort(values, kind="stable")
    return np.array(
        [np.asarray(positive)[part].mean() if part.size else np.nan for part in np.array_split(order, 4)]
    )


def check_sample(adversarial: np.ndarray, unsure: np.ndarray, seed: int) -> np.ndarray:
    """Flat indices to re-check: adversarial ones up to a cap and random others (not the unsure ones,
    which a plain pass already decided)."""
    rng = np.random.default_rng(seed)
    flat_adv = np.flatnonzero(adversarial & ~unsure)
    picks = [rng.choice(flat_adv, min(CHECK_ADVERSARIAL, flat_adv.size), replace=False)]
    picks.append(rng.choice(adversarial.size, min(CHECK_RANDOM, adversarial.size), replace=False))
    picks = np.unique(np.concatenate(picks))
    return picks[~unsure.reshape(-1)[picks]]


def plain_ensemble_wrong(dataset, cube, members, flat: np.ndarray) -> np.ndarray:
    """Misclassified by the mean-logit ensemble, by a plain forward pass of its members, at flat
    candidate indices of the cube (image position, row, col)."""
    from onepixel.models.inference import make_margin_fn

    shape = (cube.sizes["image"], cube.sizes["row"], cube.sizes["col"])
    image_pos, row, col = np.unravel_index(flat, shape)
    images = dataset["images"].values[cube["image"].values[image_pos]].astype(np.float32)
    images[np.arange(len(flat)), row, col] = 1 - images[np.arange(len(flat)), row, col]
    class_one = np.mean(
        [np.asarray(make_margin_fn(arch)(params, images), np.float64) for arch, params in members], 0
    )
    # argmax: class 1 iff its logit is the larger (a tie goes to class 0).
    return (class_one > 0).astype(int) != cube["label"].values[image_pos]


def check_ensemble(dataset, cube, members, picks: np.ndarray, wrong: np.ndarray) -> int:
    """Re-classify the picked candidates by a plain forward pass of the mean-logit ensemble; every
    decision must equal the one from the members' cubes. Returns the number checked."""
    plain_wrong = plain_ensemble_wrong(dataset, cube, members, picks)
    differ = np.flatnonzero(plain_wrong != wrong.reshape(-1)[picks])
    if differ.size:
        raise RuntimeError(
            f"the ensemble's decision from its members' cubes differs from a plain forward pass at "
            f"{differ.size} of {len(picks)} re-checked candidates; the cubes are stale or wrong: rebuild them"
        )
    return int(len(picks))


def write_networks(result: xr.Dataset, config: dict, settings: dict, out_path) -> None:
    result.attrs.update(provenance_attrs(config, settings))
    write_netcdf(result, out_path, NETWORKS_KIND)


def read_networks(path) -> xr.Dataset:
    return read_netcdf(path, NETWORKS_KIND, ("transfer_share", "ensemble_adversarial", "predictor_auc"))


def run_network_analysis(
    dataset_path, cube_paths: dict, model_paths: dict, size: int, step: float, config, out_path
):
    """Read and check one dataset's cubes (and nets, for the ensemble re-check); write the counts.

    ``cube_paths``: {(net key, seed): path}; ``model_paths``: {(net key, seed):
    (summary path, params path)}; ``config``: the study's.
    """
    from onepixel.study.inputs import load_model, open_dataset, open_search
    from onepixel.study.settings import search_settings
    from onepixel.study.variants import variant_config

    nets = {key: variant_config(config, key) for key in dict.fromkeys(k for k, _ in cube_paths)}
    first = next(iter(nets.values()))
    dataset = open_dataset(dataset_path, size, step, first)
    # Lazily: the variables the analysis reads, not the landing indices (a third of a cube).
    cubes = {
        (key, seed): open_search(path, size, step, seed, nets[key], lazy=True)
        for (key, seed), path in cube_paths.items()
    }
    members = {
        (key, seed): load_model(*paths, size, step, seed, nets[key])[:2]
        for (key, seed), paths in model_paths.items()
    }
    log.info("%d nets of D=%d step=%s: %d images each", len(cubes), size, step, dataset.sizes["image"])
    result = analyse_networks(dataset, cubes, members, first, config["search"]["recheck_below"])
    for group, ensemble, members_mean, checked in zip(
        result["group"].values,
        result["ensemble_adversarial"].values,
        result["members_adversarial_mean"].values,
        result["ensemble_checked"].values,
        strict=True,
    ):
        log.info(
            "%s: ensemble %d adversarial flips, members' mean %.1f; %d candidates re-checked, all agree",
            group,
            ensemble,
            members_mean,
            checked,
        )
    settings = {key: search_settings(net, size) for key, net in nets.items()}
    write_networks(result, config, settings, out_path)
