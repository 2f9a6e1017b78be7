import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from onepixel.model import CNN, Architecture, init_params, max_pool_floor, param_count


def expected_param_count(size, channels=32, units=128):
    flat = Architecture(size).feature_sizes()[-1] ** 2 * channels
    return (
        (9 * channels + channels)
        + (9 * channels * channels + channels)
        + (flat * units + units)
        + (units * 2 + 2)
    )


@pytest.mark.parametrize("size", [16, 17, 32, 80])
def test_output_shape_and_parameter_count(size):
    arch = Architecture(size)
    params = init_params(arch, jax.random.key(0))
    logits = CNN(arch).apply({"params": params}, jnp.zeros((3, size, size)))
    assert logits.shape == (3, 2)
    assert param_count(params) == expected_param_count(size)


def test_paper_sizes_follow_keras_valid_floor_arithmetic():
    # 16 -> conv 14 -> pool 7 -> conv 5 -> pool 2; 80 -> 78 -> 39 -> 37 -> 18.
    assert Architecture(16).feature_sizes() == [7, 2]
    assert Architecture(80).feature_sizes() == [39, 18]
    assert param_count(init_params(Architecture(32), jax.random.key(0))) == 157410


def test_strided_slice_pool_equals_flax_max_pool():
    x = jax.random.normal(jax.random.key(1), (2, 13, 13, 4))
    np.testing.assert_array_equal(
        max_pool_floor(x, 2), nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
    )


def test_too_small_image_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="too small"):
        Architecture(5).validate()


class FlaxConvCNN(nn.Module):
    """The paper's net written with nn.Conv + nn.max_pool: the reference formulation."""

    arch: Architecture

    @nn.compact
    def __call__(self, images):
        x = images.astype(jnp.float32)[..., None]
        for channels in self.arch.conv_channels:
            x = nn.Conv(channels, (self.arch.kernel,) * 2, padding="VALID")(x)
            x = nn.max_pool(nn.relu(x), (self.arch.pool,) * 2, strides=(self.arch.pool,) * 2)
        x = nn.relu(nn.Dense(self.arch.dense_units)(x.reshape(x.shape[0], -1)))
        return nn.Dense(self.arch.n_classes)(x)


ARCHITECTURES = [
    Architecture(80),
    Architecture(33, kernel=5, pool=3),
    Architecture(48, conv_channels=(8, 16, 16)),
]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_model_matches_plain_flax_convolution_network(arch):
    # Same parameter tree and initial values as nn.Conv, the inference forward
    # bit-identical, and the training forward (per-phase block 1, dropout off)
    # equal up to float summation order.
    params = init_params(arch, jax.random.key(4))
    blank = jnp.zeros((1, arch.size, arch.size))
    reference_params = FlaxConvCNN(arch).init(jax.random.key(4), blank)["params"]
    leaves = jax.tree_util.tree_leaves
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(reference_params)
    for ours, theirs in zip(leaves(params), leaves(reference_params), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    images = (jax.random.uniform(jax.random.key(5), (6, arch.size, arch.size)) < 0.05).astype(jnp.float32)
    reference = FlaxConvCNN(arch).apply({"params": params}, images)
    np.testing.assert_array_equal(CNN(arch).apply({"params": params}, images), reference)
    no_dropout = Architecture(**{**arch.to_dict(), "conv_channels": arch.conv_channels, "dropout": 0.0})
    trained_form = CNN(no_dropout).apply(
        {"params": params}, images, train=True, rngs={"dropout": jax.random.key(0)}
    )
    np.testing.assert_allclose(trained_form, reference, atol=1e-5, rtol=1e-5)


def test_training_gradient_equals_plain_flax_gradient():
    arch = Architecture(24, dropout=0.0)
    params = init_params(arch, jax.random.key(6))
    images = (jax.random.uniform(jax.random.key(7), (8, 24, 24)) < 0.1).astype(jnp.float32)

    def loss(apply, p):
        return (apply(p) ** 2).sum()

    ours = jax.grad(lambda p: loss(lambda q: CNN(arch).apply({"params": q}, images, train=True), p))(params)
    theirs = jax.grad(lambda p: loss(lambda q: FlaxConvCNN(arch).apply({"params": q}, images), p))(params)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
