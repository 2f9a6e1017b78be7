"""The attack stage: attack a net's images with one method and score each result against its flip cube."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from onepixel import attacks
from onepixel.attacks import scores as attack_scores
from onepixel.io import annotate, check_identity, read_netcdf, write_netcdf
from onepixel.models.cnn import CNN
from onepixel.study.inputs import load_model, net_identity, open_dataset, open_search
from onepixel.study.provenance import provenance_attrs
from onepixel.study.settings import attack_settings

log = logging.getLogger("onepixel")

ATTACK_KIND = "attack"
METHODS = ("de", "random", "gradient")


def _run(method, model, params, images, labels, config, seed, answers):
    settings = config["attacks"]
    if method == "de":
        return attacks.de_attack(
            model, params, images, labels, max_iter=settings["de_max_iter"], seed=seed, answers=answers
        )
    if method == "random":
        return attacks.random_attack(
            model, params, images, labels, budget=settings["random_budget"], seed=seed, answers=answers
        )
    return attacks.gradient_attack(
        model, params, images, labels, budget=settings["gradient_budget"], answers=answers
    )


ATTACK_META = {
    "found": ("the attack reported a misclassifying one-pixel flip (re-checked by a forward pass)", "1"),
    "hit": ("the reported flip is one of the cube's adversarial flips", "1"),
    "row": ("row of the reported flip (-1: none)", "px"),
    "col": ("column of the reported flip (-1: none)", "px"),
    "queries": ("images the attack classified for this image", "1"),
    "classified": (
        "distinct images among the queries (each classified once, repeats answered from memory)",
        "1",
    ),
    "seconds": (
        "wall time of the attack on this image (without the network's, where its flips were answered "
        "from the cube: attacks.answers_from_search)",
        "s",
    ),
    "n_vulnerable": ("adversarial flips of this image in the exhaustive search (its cube)", "1"),
    "first_hit_rank": ("position of the first adversarial pixel in the gradient's order (0: none)", "1"),
    "image": ("index of the image in the dataset", "1"),
    "label": ("class of the image", "1"),
}


def run_attacks(
    dataset_path, cube_path, params_path, summary_path, size, step, seed, config, out_paths: dict
):
    """Every attack of ``out_paths`` ({method: path}) on one net, one NetCDF of per-image results each.

    ``config``: the variant's net config. The net, its dataset and cube are
    read once and the attacked images chosen once for all methods: a job per
    attack spent most of its seconds starting, importing and reading.
    """
    unknown = sorted(set(out_paths) - set(METHODS))
    if unknown:
        raise ValueError(f"attack methods {unknown}; use some of {METHODS}")
    # A D = 80 cube is ~0.5 GB in memory, its dataset 0.1 GB (1 s to read);
    # the attacks need a few of their images.
    ds = open_dataset(dataset_path, size, step, config, lazy=True)
    cube = open_search(cube_path, size, step, seed, config, lazy=True)
    arch, params, _ = load_model(summary_path, params_path, size, step, seed, config)
    model = CNN(arch)
    chosen = attacked_images(ds, cube, config["attacks"], seed)
    counts = chosen["n_vulnerable"]
    log.info(
        "attacks %s on %d images of D=%d step=%s seed=%d (%d vulnerable, %d with 1-2 vulnerable pixels)",
        ", ".join(out_paths),
        len(counts),
        size,
        step,
        seed,
        int((counts > 0).sum()),
        int(((counts >= 1) & (counts <= 2)).sum()),
    )
    images, labels = chosen["images"], chosen["labels"]
    n_images = int(cube.sizes["image"])
    # The cube classified every one-pixel flip of these images already: the
    # attacks' queries are answered from it (the same decisions), and each
    # reported success is re-classified by a forward pass below.
    answers = None
    if config["attacks"]["answers_from_search"]:
        answers = attacks.SearchedFlips(chosen["misclassified"], chosen["margin"], chosen["base_margin"])
    for method, out_path in out_paths.items():
        result = _run(
            method, model, params, images, labels, config, config["attacks"]["seed"] + seed, answers
        )
        verified = attacks.verify_flips(model, params, images, labels, result)
        if (verified != result.found).any():
            bad = np.flatnonzero(verified != result.found)
            raise RuntimeError(
                f"{method}: reported successes at attacked images {bad.tolist()} do not re-check"
            )
        out = attack_result(result, chosen)
        out.attrs.update(
            provenance_attrs(
                config, attack_settings(config, size, method), **net_identity(size, step, seed, config)
            ),
            attack=method,
            exhaustive_queries_per_image=size * size,
            exhaustive_seconds_per_image=float(cube.attrs["search_seconds"]) / max(n_images, 1),
        )
        write_netcdf(out, out_path, ATTACK_KIND)
        log_attack(method, out, size)


def attacked_images(ds, cube, settings: dict, seed: int) -> dict:
    """The images the attack runs on (vulnerable ones by bins of their count, then invulnerable ones).

    Returns their ``images``, ``labels``, cube ``adversarial``,
    ``misclassified`` and ``margin`` of every flip, ``base_margin``,
    ``n_vulnerable`` counts and dataset indices (``image``), in the selection's order.
    """
    n_adversarial = cube["n_adversarial"].values
    positions = attack_scores.select_images(
        n_adversarial,
        settings["vulnerable_per_net"],
        settings["invulnerable_per_net"],
        settings["seed"] + seed,
    )
    # netCDF reads increasing indices; the selection's order is restored after.
    unique_positions, order = np.unique(positions, return_inverse=True)
    dataset_images, image_order = np.unique(cube["image"].values[positions], return_inverse=True)
    return {
        "images": ds["images"].isel(image=dataset_images).values[image_order],
        "labels": cube["label"].values[positions].astype(np.int64),
        "adversarial": cube["adversarial"].isel(image=unique_positions).values[order],
        "misclassified": cube["misclassified"].isel(image=unique_positions).values[order],
        "margin": cube["margin"].isel(image=unique_positions).values[order],
        "base_margin": cube["base_margin"].values[positions],
        "n_vulnerable": n_adversarial[positions],
        "image": cube["image"].values[positions],
    }


def attack_result(result, chosen: dict) -> xr.Dataset:
    """One attack's per-image results, each reported flip scored against the cube's adversarial flips."""
    hit = attack_scores.found_adversarial(result.found, result.row, result.col, chosen["adversarial"])
    data = {
        "found": ("image", result.found),
        "hit": ("image", hit),
        "row": ("image", result.row.astype(np.int32)),
        "col": ("image", result.col.astype(np.int32)),
        "queries": ("image", result.queries.astype(np.int64)),
        "seconds": ("image", result.seconds.astype(np.float64)),
        "n_vulnerable": ("image", chosen["n_vulnerable"].astype(np.int32)),
    }
    if "classified" in result.extra:
        data["classified"] = ("image", result.extra["classified"].astype(np.int64))
    if result.ranks is not None:
        ranks = attack_scores.first_hit_rank(result.ranks, chosen["adversarial"])
        data["first_hit_rank"] = ("image", ranks.astype(np.int32))
    out = xr.Dataset(data, coords={"image": chosen["image"], "label": ("image", chosen["labels"])})
    annotate(out, {name: value for name, value in ATTACK_META.items() if name in out.variables})
    return out


def log_attack(method: str, out: xr.Dataset, size: int) -> None:
    found, queries, seconds = out["found"].values, out["queries"].values, out["seconds"].values
    vulnerable = out["n_vulnerable"].values > 0
    log.info(
        "%s: found %d of %d vulnerable images (%d of them at one of the cube's adversarial flips), "
        "median %d queries, %.3f s per image; exhaustive search: %d queries, %.4f s per image",
        method,
        int(found[vulnerable].sum()),
        int(vulnerable.sum()),
        int(out["hit"].values.sum()),
        int(np.median(queries)) if queries.size else 0,
        float(seconds.mean()) if seconds.size else 0.0,
        size * size,
        out.attrs["exhaustive_seconds_per_image"],
    )
    if "classified" in out:
        log.info(
            "%s: %d queries in all, %d distinct images among them (each classified once)",
            method,
            int(out["queries"].sum()),
            int(out["classified"].sum()),
        )


def open_attack(path, size, step, seed, config, method):
    """An attack result file, checked to be of this net, method and settings."""
    result = read_netcdf(path, ATTACK_KIND, ("found", "hit", "queries"))
    expected = net_identity(size, step, seed, config)
    check_identity(
        path, f"{method} attack result", result.attrs, expected, attack_settings(config, size, method)
    )
    return result
