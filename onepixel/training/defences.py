"""What a variant's net is trained on: the clean images, a teacher's soft labels, or the last round's flips.

- Label smoothing lives in the targets (``onepixel.training.train.label_targets``).
- Defensive distillation (Papernot et al. 2016): a teacher trained at
  temperature T on the clean images; its soft labels sigmoid(logits / T)
  train a student at T; both classify at T = 1 (plain logits).
- Adversarial training: round 0 is the plain training; round r trains on from
  round r - 1's weights on the clean images plus every adversarial flip round
  r - 1's exhaustive search found, labelled with its source image's label.
  A round whose predecessor's search found none keeps its weights (stopped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from onepixel.data.lines import selected_images
from onepixel.training.train import soft_labels

log = logging.getLogger("onepixel")


@dataclass
class TrainingSet:
    """Images, labels (the stopping rule's) and how to train on them."""

    images: np.ndarray
    labels: np.ndarray
    n_clean: int
    targets: np.ndarray | None = None  # None: one-hot of labels, smoothed per the config
    temperature: float = 1.0
    start_params: object = None  # None: a fresh initialisation from the seed
    stopped: bool = False  # adversarial training: nothing left to add, weights kept
    notes: dict = field(default_factory=dict)  # recorded in the training summary


def clean_images(ds, config: dict) -> tuple[np.ndarray, np.ndarray]:
    """The images every net is trained and searched on (the paper's: all unique, ambiguous left out)."""
    chosen = selected_images(ds, config["dataset"]["exclude_ambiguous"])
    return ds["images"].values[chosen], ds["label"].values[chosen]


def adversarial_flips(cube, dataset_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every adversarial flip of a cube as an image, labelled with its source image's label.

    ``dataset_images``: the dataset's images, indexed by the cube's ``image`` coordinate.
    """
    positions, rows, cols = np.nonzero(cube["adversarial"].values)
    flipped = dataset_images[cube["image"].values[positions]].copy()
    flipped[np.arange(positions.size), rows, cols] ^= 1
    return flipped, cube["label"].values[positions].astype(np.int64)


def adversarial_training_set(images, labels, flips, flip_labels) -> tuple[np.ndarray, np.ndarray, dict]:
    """The clean images followed by the distinct flips; a flip reached with both labels is left out.

    Two source images two pixels apart flip onto the same image, once per
    label when their labels differ: no net can classify both right.
    """
    n_pixels = images[0].size
    keys = flips.reshape(len(flips), n_pixels)
    unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    labels_reached = np.zeros((len(unique), 2), bool)
    labels_reached[inverse, flip_labels] = True
    conflicting = labels_reached.all(axis=1)
    keep = np.sort(first[~conflicting])
    notes = {
        "n_flips_found": int(len(flips)),
        "n_flips_added": int(keep.size),
        "n_flips_duplicate": int(len(flips) - len(unique)),
        "n_flips_conflicting": int(conflicting.sum()),
    }
    return (
        np.concatenate([images, flips[keep].astype(images.dtype)]),
        np.concatenate([labels, flip_labels[keep]]).astype(labels.dtype),
        notes,
    )


def teacher_set(ds, config: dict) -> TrainingSet:
    images, labels = clean_images(ds, config)
    temperature = float(config["training"]["distillation_temperature"])
    notes = {"temperature": temperature}
    return TrainingSet(images, labels, len(images), temperature=temperature, notes=notes)


def student_set(ds, config: dict, teacher_arch, teacher_params) -> TrainingSet:
    images, labels = clean_images(ds, config)
    temperature = float(config["training"]["distillation_temperature"])
    targets = soft_labels(teacher_arch, teacher_params, images, temperature)
    log.info(
        "student at T=%g on the teacher's soft labels (mean target of the true class %.4f)",
        temperature,
        float(targets[np.arange(len(labels)), labels].mean()),
    )
    notes = {"temperature": temperature}
    return TrainingSet(images, labels, len(images), targets=targets, temperature=temperature, notes=notes)


def round_set(ds, config: dict, previous_params, previous_cube, round_index: int) -> TrainingSet:
    images, labels = clean_images(ds, config)
    flips, flip_labels = adversarial_flips(previous_cube, ds["images"].values)
    all_images, all_labels, notes = adversarial_training_set(images, labels, flips, flip_labels)
    notes["round"] = round_index
    stopped = notes["n_flips_found"] == 0
    log.info(
        "round %d: %d clean images + %d of the %d adversarial flips of round %d%s",
        round_index,
        len(images),
        notes["n_flips_added"],
        notes["n_flips_found"],
        round_index - 1,
        " (none left: weights kept, training stopped)" if stopped else "",
    )
    return TrainingSet(
        all_images, all_labels, len(images), start_params=previous_params, stopped=stopped, notes=notes
    )
