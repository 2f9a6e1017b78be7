"""One chunk of images searched: the fast or plain search at every corner, re-checked, as a cube.

``flip_search`` cuts the images into chunks (one, unless the cube is
streamed) and turns each into its cube with ``ChunkSearch.cube``.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from onepixel.data.flips import corner_landing, one_flip_pairs
from onepixel.search import checks
from onepixel.search.cube import flip_cube, landing_array
from onepixel.search.images import PixelValues, is_candidate
from onepixel.search.plain import base_logits, check_finite, label_margin, plain_label_search, recheck_labels

log = logging.getLogger("onepixel.search")


class ChunkSearch:
    """The settings every chunk of one ``flip_search`` shares; ``cube(part)`` searches images[part].

    ``labels``/``targets``: (N,) or None; ``landing(part)`` gives the chunk's
    ``lands_on``; ``coords`` per-image coordinates; ``tracker`` a ``Progress``.
    """

    def __init__(
        self,
        model,
        images,
        labels,
        targets,
        values: PixelValues,
        used: str,
        landing,
        coords,
        *,
        recheck_below: float,
        chunk_candidates: int,
        tracker,
        attrs: dict,
    ):
        self.model, self.images, self.labels, self.targets = model, images, labels, targets
        self.values, self.used, self.landing, self.coords = values, used, landing, coords
        self.recheck_below, self.chunk_candidates = recheck_below, chunk_candidates
        self.tracker, self.attrs = tracker, attrs

    def cube(self, part: slice) -> xr.Dataset:
        """The cube of images[part]."""
        model, values = self.model, self.values
        images = self.images[part]
        labels = None if self.labels is None else self.labels[part]
        targets = None if self.targets is None else self.targets[part]
        if self.used == "fast" and model.cnn.arch.n_classes == 2:
            result = fast_two_class(model, images, labels, targets, values, self.tracker)
        else:
            result = label_search(
                model, images, labels, targets, values, self.used, self.chunk_candidates, self.tracker
            )
        margins, wrong, base_margin, base_wrong, labels, info = result
        judged = labels if targets is None else targets
        if self.used == "fast":
            info["n_rechecked"] = sum(
                recheck_labels(
                    model, images, judged, margins[:, k], wrong[:, k], self.recheck_below, values, k
                )
                for k in range(values.n_corners)
            )
            log.info(
                "re-checked %d candidates with |margin| < %g by a plain forward pass",
                info["n_rechecked"],
                self.recheck_below,
            )
        check_finite(margins, f"changed images (images {part.start}..{part.stop - 1})")
        if values.binary:
            margins, wrong = margins[:, 0], wrong[:, 0]
        return flip_cube(
            margins,
            wrong,
            base_margin,
            base_wrong,
            labels,
            self.landing(part),
            {name: np.asarray(value)[part] for name, value in self.coords.items()},
            {**self.attrs, **info},
            candidate=is_candidate(images, values),
            corner_values=values.corners,
            targets=targets,
        )


def corner_axis(per_corner: list[np.ndarray]) -> np.ndarray:
    """(N, K, H, W) from K arrays (N, H, W); one corner (binary images) as a view, not a copy of the cube."""
    return per_corner[0][:, None] if len(per_corner) == 1 else np.stack(per_corner, axis=1)


def fast_two_class(model, images, labels, targets, values, tracker):
    """The fast search of a 2-class CNN: (margins, wrong, base margin, base wrong, labels, info).

    Margins and wrong are (N, K, H, W), judged against the targets if given.
    Its own base pass gives every image's logit_1 - logit_0, so no second
    forward pass; argmax picks class 1 iff it is > 0.
    """
    per_corner = [fast_search(model, images, values, k, tracker) for k in range(values.n_corners)]
    base_1_minus_0, info = per_corner[0][1], per_corner[0][2]
    class_1_minus_0 = corner_axis([margins for margins, _, _ in per_corner])
    del per_corner
    labels = (base_1_minus_0 > 0).astype(np.int64) if labels is None else labels
    is_1 = (labels if targets is None else targets) == 1
    sign = np.where(is_1, 1.0, -1.0).astype(np.float32)
    wrong = class_1_minus_0 > 0
    wrong ^= is_1[:, None, None, None]
    # In place (exact: a sign change): the cube is 290 MB of float32 at D = 80 step 0.5.
    margins = np.multiply(class_1_minus_0, sign[:, None, None, None], out=class_1_minus_0)
    return margins, wrong, base_1_minus_0 * sign, (base_1_minus_0 > 0) != (labels == 1), labels, info


def label_search(model, images, labels, targets, values, used, chunk, tracker):
    """Any number of classes, fast or plain, untargeted or targeted: as ``_fast_two_class``."""
    logits = base_logits(model, images)
    check_finite(logits, "unchanged images")
    predicted = np.argmax(logits, axis=1)
    labels = predicted if labels is None else labels
    checks.check_targets(targets, labels)
    judged = labels if targets is None else targets
    base_margin = np.asarray(label_margin(logits, judged)[0])
    margins, wrong, info = [], [], {"n_rechecked": 0}
    for k in range(values.n_corners):
        if used == "fast":
            corner_margins, _, info = fast_search(model, images, values, k, tracker, judged)
            # A tie (margin 0) is wrong iff a lower class ties (argmax takes the lowest);
            # only the judged class's side is known here, so ties count wrong for classes > 0.
            # Margins below recheck_below are recomputed exactly by the plain pass.
            corner_wrong = (corner_margins < 0) | ((corner_margins == 0) & (judged > 0)[:, None, None])
        else:
            corner_margins, corner_wrong = plain_label_search(
                model, images, judged, values, k, chunk, tracker.update
            )
        margins.append(corner_margins)
        wrong.append(corner_wrong)
    return corner_axis(margins), corner_axis(wrong), base_margin, predicted != labels, labels, info


def fast_search(model, images, values: PixelValues, corner: int, tracker, labels=None):
    """(margins, base margins, info) of the fast search at one corner (logit_1 - logit_0 for 2 classes)."""
    from onepixel.search.fast import FastSearchStats, fast_flip_margins

    if values.binary:
        new_value = None if images.dtype == np.uint8 else ("flip", values.lo + values.hi)
    else:
        new_value = ("set", np.asarray(values.corner_value(corner), np.float32))
    stats = FastSearchStats()
    margins, base = fast_flip_margins(
        model.cnn.arch,
        model.params,
        images,
        stats=stats,
        labels=labels,
        new_value=new_value,
        on_candidates=tracker.update,
    )
    info = {"unique_window_pixel_pairs": stats.unique_pairs, "dedup_factor": stats.dedup_factor}
    return margins, base, info


class Landing:
    """The index of the image among ``images`` each change of images[part] yields, -1 for none."""

    def __init__(self, images: np.ndarray, values: PixelValues):
        self.images, self.values = images, values
        # Binary images: every one-flip pair of the set at once (few, found by hashing).
        self.pairs = one_flip_pairs(images == values.hi) if values.binary else None

    def __call__(self, part: slice) -> np.ndarray:
        if self.pairs is None:
            pixels = self.images if self.values.channels else self.images[..., None]
            return corner_landing(pixels, self.values.corners, sources=part)
        source, row, col, target = self.pairs
        keep = (source >= part.start) & (source < part.stop)
        shape = (part.stop - part.start, *self.images.shape[1:3])
        return landing_array(shape, source[keep] - part.start, row[keep], col[keep], target[keep])
