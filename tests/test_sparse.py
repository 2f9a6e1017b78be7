"""The first two blocks where the pixels reach (training): the dense blocks' values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, init_params
from onepixel.models.sparse import active_indices, active_sizes


def line_images(size: int, n: int, seed: int = 0) -> np.ndarray:
    """Short binary segments through random points, on a zero background (a few far apart pixels too)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size), np.uint8)
    for image in images:
        row, col = rng.integers(4, size - 4, 2)
        angle = rng.uniform(0, np.pi)
        for t in np.linspace(-size / 4, size / 4, 4 * size):
            r, c = int(round(row + t * np.sin(angle))), int(round(col + t * np.cos(angle)))
            if 0 <= r < size and 0 <= c < size:
                image[r, c] = 1
        image[rng.integers(0, size, 2), rng.integers(0, size, 2)] = 1
    images[0] = 0  # an empty image: nothing reached
    images[1, -1, -1] = 1  # a pixel in the corner the floor pooling drops
    return images


ARCHS = [
    Architecture(40),
    Architecture(41, kernel=5, pool=3, dense_units=16),
    Architecture(44, conv_channels=(8, 16, 8), dense_units=16),
]


@pytest.mark.parametrize("arch", ARCHS, ids=["paper-40", "kernel5-pool3-41", "three-blocks-44"])
def test_sparse_blocks_give_the_dense_training_forward_and_gradient(arch):
    images = line_images(arch.size, 12)
    sizes = active_sizes(images, arch, most_share=1.0)
    index = {name: jnp.asarray(value) for name, value in active_indices(images, arch, sizes).items()}
    params = init_params(arch, jax.random.key(3))
    batch = jnp.asarray(images, jnp.float32)
    weights = jax.random.normal(jax.random.key(4), (len(images), arch.n_classes))

    def loss(p, sparse_index):
        logits = CNN(arch).apply(
            {"params": p}, batch, train=True, rngs={"dropout": jax.random.key(5)}, sparse_index=sparse_index
        )
        return (logits * weights).sum(), logits

    gradient = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (_, dense_logits), dense_grads = gradient(params, None)
    (_, sparse_logits), sparse_grads = gradient(params, index)
    np.testing.assert_allclose(sparse_logits, dense_logits, rtol=1e-5, atol=1e-5)
    flat_dense = jax.tree_util.tree_leaves_with_path(dense_grads)
    for (path, dense), sparse in zip(flat_dense, jax.tree_util.tree_leaves(sparse_grads), strict=True):
        scale = float(jnp.abs(dense).max()) or 1.0
        np.testing.assert_allclose(
            sparse / scale, dense / scale, atol=2e-5, err_msg=jax.tree_util.keystr(path)
        )


def test_sizes_are_the_most_any_image_reaches_and_none_where_gathering_cannot_pay():
    arch = Architecture(40)
    images = line_images(40, 12)
    cells, outputs = active_sizes(images, arch, most_share=1.0)
    index = active_indices(images, arch, (cells, outputs))
    assert (index["cell_pixel"] >= 0).sum(1).max() == cells
    # The outputs the reached cells feed are the outputs reached.
    fed = [np.unique(targets[targets < 16 * 16]).size for targets in index["cell_target"]]
    assert max(fed) == outputs
    # The empty image: no cell reached, nothing fed.
    assert (index["cell_pixel"][0] == -1).all() and (index["cell_target"][0] == 16 * 16).all()
    with pytest.raises(ValueError, match="reach more than"):
        active_indices(images, arch, (cells - 1, outputs))
    assert active_sizes(np.ones((3, 40, 40), np.uint8), arch) is None  # every output reached
    assert active_sizes(images[..., None].repeat(3, -1), arch) is None  # colour
    assert active_sizes(images, Architecture(40, conv_channels=(32,))) is None  # one block


def test_training_uses_the_sparse_blocks_on_lines_and_reaches_accuracy_1(caplog):
    from onepixel.training.train import train

    images = line_images(48, 64, seed=1)
    labels = (np.arange(64) % 2).astype(np.int64)
    images[labels == 1, :2, :] = 1  # class 1: a bar along the top
    cfg = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "batch_size": 32, "max_epochs": 30}
    arch = Architecture(48)
    assert active_sizes(images, arch) is not None
    with caplog.at_level("INFO", logger="onepixel.training.train"):
        result = train(images, labels, arch, cfg, seed=0)
    assert "the first two blocks where the pixels reach" in caplog.text
    assert result.reached_full_accuracy
