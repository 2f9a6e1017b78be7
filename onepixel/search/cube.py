"""The flip cube: built from a search's margins and decisions, written and read as NetCDF (no JAX here).

One ``xarray.Dataset`` per network, dims image x row x col; jobs that only read
cubes (summaries, tables) import this module, not the search.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from onepixel.io import annotate, read_netcdf, write_netcdf

SEARCH_KIND = "search"
SEARCH_VARIABLES = (
    "margin",
    "adversarial",
    "misclassified",
    "lands_on",
    "on_manifold",
    "base_margin",
    "label",
)


# long_name and units of the cube's variables and coordinates.
CUBE_META = {
    "margin": ("logit of the image's label minus the best other logit, after flipping this pixel", "1"),
    "adversarial": (
        "flipped image is classified differently from the image's label and is no valid image",
        "1",
    ),
    "misclassified": ("flipped image is classified differently from the image's label (argmax)", "1"),
    "lands_on": ("index of the valid image the flip yields (-1: none)", "1"),
    "on_manifold": ("the flip yields another valid image (never adversarial)", "1"),
    "base_margin": ("margin of the unflipped image (label logit minus best other)", "1"),
    "n_adversarial": ("number of adversarial pixel flips of this image", "1"),
    "image": ("index of the image", "1"),
    "row": ("flipped pixel row", "px"),
    "col": ("flipped pixel column", "px"),
    "label": ("class of the image the flips are judged against", "1"),
    "angle": ("representative generating angle", "degree"),
    "length": ("representative generating length", "px"),
}


TARGETED_META = {
    "margin": ("logit of the image's target class minus the best other logit, after this change", "1"),
    "adversarial": ("changed image is classified as the image's target class and is no valid image", "1"),
    "reaches_target": ("changed image is classified as the image's target class (argmax)", "1"),
    "base_margin": ("margin of the unchanged image (target logit minus best other)", "1"),
    "target": ("class the changed image should be classified as", "1"),
}
CORNER_META = {
    "corner": ("index of the corner of the value box the pixel is set to", "1"),
    "corner_value": ("value the pixel is set to, per channel", "1"),
    "candidate": ("the pixel differs from this corner, so setting it is a change", "1"),
}


def flip_cube(
    margins: np.ndarray,
    wrong: np.ndarray,
    base_margin: np.ndarray,
    base_wrong: np.ndarray,
    labels: np.ndarray,
    lands_on: np.ndarray,
    coords: dict | None = None,
    attrs: dict | None = None,
    *,
    candidate: np.ndarray | None = None,
    corner_values: np.ndarray | None = None,
    targets: np.ndarray | None = None,
) -> xr.Dataset:
    """The flip cube as xarray: (image, row, col), per-image coordinates, counts as attributes.

    A flip is adversarial when the flipped image is classified differently from
    the image's label and is not itself a valid image: a flip onto another valid
    image (possible for even D, where two images of different labels can differ
    in one pixel) is a correct answer of the net, not an attack.

    Grey and colour images (``corner_values`` (K, C)) give (image, corner, row,
    col), ``candidate`` marking the changes (NaN margins elsewhere). With
    ``targets``, ``margin`` and ``wrong`` are the target's: a change is
    adversarial when argmax is the target (``wrong`` is False).
    """
    dims = ("image", "row", "col") if margins.ndim == 3 else ("image", "corner", "row", "col")
    n = margins.shape[0]
    lands_on = lands_on.astype(np.int32, copy=False)
    decided = np.asarray(wrong) if targets is None else ~np.asarray(wrong)
    if candidate is not None:
        decided = decided & candidate
        margins = np.where(candidate, margins, np.float32(np.nan))
        lands_on = np.where(candidate, lands_on, -1).astype(np.int32)
    on_manifold = lands_on >= 0
    # Flips onto a valid image are few: the full cubes are not combined (each
    # temporary is 72 MB at D = 80 step 0.5, and fresh pages are slow to touch).
    on_flat = np.flatnonzero(on_manifold)
    adversarial = decided.copy()
    adversarial.reshape(-1)[on_flat] = False
    n_adversarial = np.count_nonzero(adversarial.reshape(n, -1), axis=1)
    coords = dict(coords or {})
    image_index = coords.pop("image", np.arange(n))
    decision = "misclassified" if targets is None else "reaches_target"
    data_vars = {
        "margin": (dims, margins.astype(np.float32, copy=False)),
        "adversarial": (dims, adversarial),
        decision: (dims, decided),
        "lands_on": (dims, lands_on),
        "on_manifold": (dims, on_manifold),
        "base_margin": ("image", base_margin.astype(np.float32)),
        "n_adversarial": ("image", n_adversarial.astype(np.int32)),
    }
    extra_coords = {}
    if candidate is not None:
        data_vars["candidate"] = (dims, candidate)
        extra_coords["corner"] = np.arange(len(corner_values))
        extra_coords["corner_value"] = (("corner", "channel"), corner_values.astype(np.float32))
    if targets is not None:
        extra_coords["target"] = ("image", np.asarray(targets))
    ds = xr.Dataset(
        data_vars=data_vars,
        coords={
            "image": np.asarray(image_index),
            "row": np.arange(margins.shape[-2]),
            "col": np.arange(margins.shape[-1]),
            "label": ("image", np.asarray(labels)),
            **extra_coords,
            **{name: ("image", np.asarray(values)) for name, values in coords.items()},
        },
    )
    meta = {**CUBE_META, **CORNER_META, **(TARGETED_META if targets is not None else {})}
    annotate(ds, {name: value for name, value in meta.items() if name in ds.variables})
    n_candidates = int(adversarial.size if candidate is None else np.count_nonzero(candidate))
    total_adversarial = int(n_adversarial.sum())
    ds.attrs.update(
        attrs or {},
        n_candidates=n_candidates,
        n_adversarial=total_adversarial,
        adversarial_rate=float(total_adversarial / max(n_candidates, 1)),
        n_base_errors=int(np.asarray(base_wrong).sum()),
        n_on_manifold=int(on_flat.size),
        n_on_manifold_misclassified=int(np.count_nonzero(decided.reshape(-1)[on_flat])),
    )
    if targets is not None:
        ds.attrs["targeted"] = 1
    return ds


def landing_array(shape, source, row, col, target) -> np.ndarray:
    """(N, H, W) index of the valid image each flip yields, -1 where none, from one-pixel pairs."""
    lands_on = np.full(shape, -1, np.int32)
    lands_on[source, row, col] = target
    return lands_on


def dataset_landing(dataset: xr.Dataset, image_indices: np.ndarray) -> np.ndarray:
    """(N, D, D) dataset index of the dataset image each flip of the chosen images yields, -1 where none."""
    position = np.full(dataset.sizes["image"], -1, np.int64)
    position[image_indices] = np.arange(len(image_indices))
    source = position[dataset["pair_image"].values]
    keep = source >= 0
    shape = (len(image_indices), dataset.sizes["row"], dataset.sizes["col"])
    pairs = (dataset[name].values[keep] for name in ("pair_row", "pair_col", "pair_target"))
    return landing_array(shape, source[keep], *pairs)


def write_search(ds: xr.Dataset, path) -> None:
    write_netcdf(ds, path, SEARCH_KIND)


def read_search(path, lazy: bool = False, required: tuple[str, ...] = ()) -> xr.Dataset:
    """A flip cube file; ``required``: per-image coordinates it must hold besides the cube's own."""
    return read_netcdf(path, SEARCH_KIND, SEARCH_VARIABLES + tuple(required), lazy=lazy)


def open_cube(path) -> xr.Dataset:
    """A flip cube of the workflow (``results/search/<variant>/…/seed{seed}.nc``), checked to be one."""
    return read_search(path)
