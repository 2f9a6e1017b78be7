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


def _run(method, model, params, images, labels, config, seed):
    settings = config["attacks"]
    if method == "de":
        return attacks.de_attack(model, params, images, labels, max_iter=settings["de_max_iter"], seed=seed)
    if method == "random":
        return attacks.random_attack(
            model, params, images, labels, budget=settings["random_budget"], seed=seed
        )
    return attacks.gradient_attack(model, params, images, labels, budget=settings["gradient_budget"])


def run_attack(
    dataset_path, cube_path, params_path, summary_path, size, step, seed, config, method, out_path
):
    """``config``: the variant's net config. Writes one NetCDF of per-image results."""
    if method not in METHODS:
        raise ValueError(f"attack method {method!r}; use one of {METHODS}")
    # A D = 80 cube is ~0.5 GB in memory, its dataset 0.1 GB (1 s to read);
    # the attacks need a few of their images.
    ds = open_dataset(dataset_path, size, step, config, lazy=True)
    cube = open_search(cube_path, size, step, seed, config, lazy=True)
    arch, params, _ = load_model(summary_path, params_path, size, step, seed, config)
    model = CNN(arch)
    settings = config["attacks"]
    n_adversarial = cube["n_adversarial"].values
    positions = attack_scores.select_images(
        n_adversarial,
        settings["vulnerable_per_net"],
        settings["invulnerable_per_net"],
        settings["seed"] + seed,
    )
    labels = cube["label"].values[positions].astype(np.int64)
    # netCDF reads increasing indices; the selection's order is restored after.
    unique_positions, order = np.unique(positions, return_inverse=True)
    adversarial = cube["adversarial"].isel(image=unique_positions).values[order]
    dataset_images, image_order = np.unique(cube["image"].values[positions], return_inverse=True)
    images = ds["images"].isel(image=dataset_images).values[image_order]
    log.info(
        "%s attack on %d images of D=%d step=%s seed=%d (%d vulnerable, %d with 1-2 vulnerable pixels)",
        method,
        len(positions),
        size,
        step,
        seed,
        int((n_adversarial[positions] > 0).sum()),
        int(((n_adversarial[positions] >= 1) & (n_adversarial[positions] <= 2)).sum()),
    )
    result = _run(method, model, params, images, labels, config, settings["seed"] + seed)
    verified = attacks.verify_flips(model, params, images, labels, result)
    if (verified != result.found).any():
        bad = np.flatnonzero(verified != result.found)
        raise RuntimeError(f"{method}: reported successes at attacked images {bad.tolist()} do not re-check")
    hit = attack_scores.found_adversarial(result.found, result.row, result.col, adversarial)
    data = {
        "found": ("image", result.found),
        "hit": ("image", hit),
        "row": ("image", result.row.astype(np.int32)),
        "col": ("image", result.col.astype(np.int32)),
        "queries": ("image", result.queries.astype(np.int64)),
        "seconds": ("image", result.seconds.astype(np.float64)),
        "n_vulnerable": ("image", n_adversarial[positions].astype(np.int32)),
    }
    if "classified" in result.extra:
        data["classified"] = ("image", result.extra["classified"].astype(np.int64))
    if result.ranks is not None:
        data["first_hit_rank"] = (
            "image",
            attack_scores.first_hit_rank(result.ranks, adversarial).astype(np.int32),
        )
    out = xr.Dataset(data, coords={"image": cube["image"].values[positions], "label": ("image", labels)})
    meta = {
        "found": ("the attack reported a misclassifying one-pixel flip (re-checked by a forward pass)", "1"),
        "hit": ("the reported flip is one of the cube's adversarial flips", "1"),
        "row": ("row of the reported flip (-1: none)", "px"),
        "col": ("column of the reported flip (-1: none)", "px"),
        "queries": ("images the attack classified for this image", "1"),
        "classified": (
            "distinct images among the queries (each classified once, repeats answered from memory)",
            "1",
        ),
        "seconds": ("wall time of the attack on this image", "s"),
        "n_vulnerable": ("adversarial flips of this image in the exhaustive search (its cube)", "1"),
        "first_hit_rank": ("position of the first adversarial pixel in the gradient's order (0: none)", "1"),
        "image": ("index of the image in the dataset", "1"),
        "label": ("class of the image", "1"),
    }
    annotate(out, {name: value for name, value in meta.items() if name in out.variables})
    n_images = int(cube.sizes["image"])
    out.attrs.update(
        provenance_attrs(
            config, attack_settings(config, size, method), **net_identity(size, step, seed, config)
        ),
        attack=method,
        exhaustive_queries_per_image=size * size,
        exhaustive_seconds_per_image=float(cube.attrs["search_seconds"]) / max(n_images, 1),
    )
    write_netcdf(out, out_path, ATTACK_KIND)
    vulnerable = out["n_vulnerable"].values > 0
    log.info(
        "%s: found %d of %d vulnerable images (%d of them at one of the cube's adversarial flips), "
        "median %d queries, %.3f s per image; exhaustive search: %d queries, %.4f s per image",
        method,
        int(result.found[vulnerable].sum()),
        int(vulnerable.sum()),
        int(hit.sum()),
        int(np.median(result.queries)) if len(positions) else 0,
        float(result.seconds.mean()) if len(positions) else 0.0,
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
