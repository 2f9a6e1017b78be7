"""Stage 2: train the paper's CNN on all images until training accuracy 1.0."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import partial

import jax
import numpy as np
import optax
from flax.training import train_state

from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, init_params
from onepixel.models.inference import EVAL_CHUNK, apply_in_chunks, make_class_fn, predicted_classes
from onepixel.models.sparse import training_index

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    params: dict
    history: list[dict] = field(default_factory=list)
    reached_full_accuracy: bool = False

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def final_accuracy(self) -> float:
        return self.history[-1]["accuracy"] if self.history else float("nan")


def make_optimizer(training_cfg: dict) -> optax.GradientTransformation:
    return optax.adam(training_cfg["learning_rate"], b1=training_cfg["beta1"], b2=training_cfg["beta2"])


def label_targets(labels: np.ndarray, n_classes: int, label_smoothing: float = 0.0) -> np.ndarray:
    """One-hot targets of the sigmoid outputs, smoothed by epsilon: onehot (1 - eps) + eps / n_classes.

    For the paper's 2 outputs that is Keras' ``binary_crossentropy(label_smoothing=eps)``.
    """
    targets = np.eye(n_classes, dtype=np.float32)[np.asarray(labels)]
    if label_smoothing > 0:
        targets = np.asarray(optax.smooth_labels(targets, label_smoothing), np.float32)
    return targets


def training_loss(logits: jax.Array, targets: jax.Array, temperature: float = 1.0) -> jax.Array:
    """Keras binary cross-entropy of the sigmoid outputs at ``temperature`` (distillation; 1 = plain)."""
    if temperature != 1.0:
        logits = logits / temperature
    return optax.sigmoid_binary_cross_entropy(logits, targets).mean()


@partial(jax.jit, donate_argnums=0, static_argnames="temperature")
def train_step(
    state: train_state.TrainState, images, targets, dropout_key, temperature: float = 1.0, sparse_index=None
):
    """One Adam step on a batch; ``targets`` are per-output probabilities (one-hot, smoothed or soft).

    ``sparse_index``: the batch's ``onepixel.models.sparse.active_indices`` (the
    first two blocks where the pixels reach), or None (the dense blocks).
    """

    def loss_fn(params):
        logits = state.apply_fn(
            {"params": params}, images, train=True, rngs={"dropout": dropout_key}, sparse_index=sparse_index
        )
        return training_loss(logits, targets, temperature)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def soft_labels(arch: Architecture, params, images: np.ndarray, temperature: float) -> np.ndarray:
    """A teacher's soft labels: sigmoid(logits / T) of every image, dropout off."""
    model = CNN(arch)
    logits = jax.jit(lambda batch: model.apply({"params": params}, batch))
    probabilities = lambda batch: jax.nn.sigmoid(logits(batch) / temperature)  # noqa: E731
    return apply_in_chunks(probabilities, images).astype(np.float32)


def misclassified(
    class_fn, params, images: np.ndarray, labels: np.ndarray, check_first: np.ndarray, complete: bool
) -> tuple[np.ndarray, int]:
    """Dropout-off misclassified images (argmax != label), chunk by chunk, ``check_first`` first;
    and how many images were checked.

    Unless ``complete``, checking stops after the first chunk that holds an
    error: the stopping rule only needs to know that the count is not zero,
    and the last epoch's errors (checked first) are the likeliest to remain.
    An epoch with no error is always checked in full.
    """
    n = len(images)
    order = np.concatenate([check_first, np.setdiff1d(np.arange(n), check_first, assume_unique=True)])
    wrong = []
    for start in range(0, n, EVAL_CHUNK):
        chosen = order[start : start + EVAL_CHUNK]
        predicted = predicted_classes(class_fn, params, images[chosen])
        wrong.append(chosen[predicted != labels[chosen]])
        if wrong[-1].size and not complete:
            return np.sort(np.concatenate(wrong)), min(start + EVAL_CHUNK, n)
    return np.sort(np.concatenate(wrong)), n


def _epoch(state, images, targets, order, batch: int, epoch_dropout, temperature: float, sparse_index=None):
    """One pass over the images in ``order``, ``batch`` at a time; the state after it and the mean loss."""
    losses = []
    for step, start in enumerate(range(0, len(order), batch)):
        idx = order[start : start + batch]
        state, loss = train_step(
            state,
            images[idx].astype(np.float32),
            targets[idx],
            jax.random.fold_in(epoch_dropout, step),
            temperature=float(temperature),
            sparse_index=None if sparse_index is None else {k: v[idx] for k, v in sparse_index.items()},
        )
        losses.append(loss)
    return state, float(np.mean(jax.device_get(losses)))


def _epoch_record(epoch: int, loss: float, n_errors: int, n_checked: int, n: int, seconds: float) -> dict:
    """The epoch's row of the history, logged."""
    record = {
        "epoch": epoch,
        "loss": loss,
        # Exact only when every image was checked; else n_errors is a lower bound.
        "accuracy": 1.0 - n_errors / n if n_checked == n else None,
        "n_errors": n_errors,
        "n_checked": n_checked,
        "seconds": seconds,
    }
    if n_checked == n:
        checked = f"accuracy {record['accuracy']:.5f} ({n_errors} errors of {n})"
    else:
        checked = f"{n_errors} error(s) in the first {n_checked} of {n} images checked"
    log.info("epoch %d: loss %.5f, %s, %.2f s", epoch, loss, checked, seconds)
    return record


def train(
    images: np.ndarray,
    labels: np.ndarray,
    arch: Architecture,
    training_cfg: dict,
    seed: int,
    *,
    targets: np.ndarray | None = None,
    temperature: float = 1.0,
    start_params=None,
) -> TrainingResult:
    """Adam + BCE, batch ``batch_size``, until whole-set accuracy (argmax vs ``labels``) is exactly 1.0.

    ``targets``: the outputs' training probabilities per image (default: one-hot
    of ``labels``, smoothed by ``training.label_smoothing``); ``temperature``
    divides the logits in the loss only (distillation), never at inference;
    ``start_params``: continue from these weights (adversarial-training rounds)
    with a fresh optimiser.
    """
    root = jax.random.key(seed)
    init_key, shuffle_key, dropout_root = jax.random.split(root, 3)
    model = CNN(arch)
    state = train_state.TrainState.create(
        apply_fn=model.apply,
        params=init_params(arch, init_key) if start_params is None else start_params,
        tx=make_optimizer(training_cfg),
    )
    class_fn = make_class_fn(arch)
    # Batches are made float32 as they are taken: a float32 copy of a D = 80
    # step 0.5 set is 290 MB of fresh pages (3 s on a VM that hands freed memory back).
    images = np.asarray(images)
    labels = labels.astype(np.int32)
    if targets is None:
        targets = label_targets(labels, arch.n_classes, training_cfg.get("label_smoothing", 0.0))
    targets = np.asarray(targets, np.float32)
    n, batch = len(images), training_cfg["batch_size"]
    result = TrainingResult(params=state.params)
    sparse_index = training_index(images, arch)
    if sparse_index is not None:
        log.info(
            "the first two blocks where the pixels reach: at most %d of block 1's cells",
            sparse_index["cell_pixel"].shape[1],
        )
    wrong = np.zeros(0, np.int64)  # the last epoch's misclassified images

    for epoch in range(1, training_cfg["max_epochs"] + 1):
        started = time.perf_counter()
        order = np.asarray(jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n))
        state, loss = _epoch(
            state,
            images,
            targets,
            order,
            batch,
            jax.random.fold_in(dropout_root, epoch),
            temperature,
            sparse_index,
        )
        last = epoch == training_cfg["max_epochs"]  # a net that stops short gets its exact count
        wrong, n_checked = misclassified(class_fn, state.params, images, labels, wrong, complete=last)
        record = _epoch_record(epoch, loss, int(wrong.size), n_checked, n, time.perf_counter() - started)
        result.history.append(record)
        if record["n_errors"] == 0:
            result.reached_full_accuracy = True
            break
    result.params = state.params
    if not result.reached_full_accuracy:
        log.warning(
            "NOT CONVERGED: training accuracy %.5f < 1.0 after max_epochs=%d",
            result.final_accuracy,
            training_cfg["max_epochs"],
        )
    return result
