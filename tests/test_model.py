import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from onepixel.models.cnn import CNN, Architecture, init_params, max_pool_floor, param_count


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


SLOW = pytest.mark.slow  # the fast loop keeps one case of each check
ARCHITECTURES = [
    Architecture(80),
    pytest.param(Architecture(33, kernel=5, pool=3), marks=SLOW),
    pytest.param(Architecture(48, conv_channels=(8, 16, 16)), marks=SLOW),
]
BLOCK_SHAPES = [pytest.param(24, 3, 2, marks=SLOW), (17, 3, 2), pytest.param(33, 5, 3, marks=SLOW)]


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


@pytest.mark.slow
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


@pytest.mark.parametrize(("size", "kernel", "pool"), BLOCK_SHAPES)
def test_single_channel_block_gradient_equals_autodiff_of_conv_relu_reduce_window(size, kernel, pool):
    # The hand-written backward against JAX's gradient of conv -> ReLU ->
    # reduce_window (nn.max_pool), on sparse binary images (many exact ties),
    # for the kernel, the bias and the image (the first maximum takes a tie).
    from onepixel.models.cnn import conv, conv_relu_pool_single_channel

    key_x, key_w, key_b, key_g = jax.random.split(jax.random.key(8), 4)
    x = (jax.random.uniform(key_x, (4, size, size, 1)) < 0.1).astype(jnp.float32)
    w = jax.random.normal(key_w, (kernel, kernel, 1, 8))
    b = 0.3 * jax.random.normal(key_b, (8,))

    def reference(x, w, b):
        return max_pool_floor(nn.relu(conv(x, w) + b), pool, for_gradient=False)

    out = conv_relu_pool_single_channel(x, w, b, pool)
    np.testing.assert_allclose(out, reference(x, w, b), atol=1e-5)
    cotangent = jax.random.normal(key_g, out.shape)
    ours = jax.vjp(lambda *a: conv_relu_pool_single_channel(*a, pool), x, w, b)[1](cotangent)
    theirs = jax.vjp(reference, x, w, b)[1](cotangent)
    for name, a, t in zip(("image", "kernel", "bias"), ours, theirs, strict=True):
        np.testing.assert_allclose(a, t, atol=1e-4, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize(("size", "kernel", "pool"), BLOCK_SHAPES)
def test_first_block_channels_first_copy_is_its_output_transposed_and_passes_gradients(size, kernel, pool):
    # The copy for the second conv's kernel gradient: bit for bit the block's
    # output with batch and channels swapped; a cotangent given to either
    # output reaches the image, kernel and bias as through the block itself.
    from onepixel.models.cnn import conv_relu_pool_single_channel, first_block_for_second_conv

    key_x, key_w, key_b, key_g, key_h = jax.random.split(jax.random.key(9), 5)
    x = (jax.random.uniform(key_x, (4, size, size, 1)) < 0.1).astype(jnp.float32)
    w = jax.random.normal(key_w, (kernel, kernel, 1, 8))
    b = 0.3 * jax.random.normal(key_b, (8,))
    out, channels_first = first_block_for_second_conv(x, w, b, pool)
    np.testing.assert_array_equal(out, conv_relu_pool_single_channel(x, w, b, pool))
    np.testing.assert_array_equal(channels_first, out.transpose(3, 1, 2, 0))
    g, h = jax.random.normal(key_g, out.shape), jax.random.normal(key_h, out.shape)
    ours = jax.vjp(lambda *a: first_block_for_second_conv(*a, pool), x, w, b)[1]((g, h.transpose(3, 1, 2, 0)))
    theirs = jax.vjp(lambda *a: conv_relu_pool_single_channel(*a, pool), x, w, b)[1](g + h)
    for name, a, t in zip(("image", "kernel", "bias"), ours, theirs, strict=True):
        np.testing.assert_allclose(a, t, atol=1e-5, rtol=1e-5, err_msg=name)


def test_conv_with_channels_first_copy_has_the_convolution_gradient():
    from onepixel.models.cnn import conv, conv_with_channels_first_copy

    key_x, key_w, key_g = jax.random.split(jax.random.key(10), 3)
    x = jax.nn.relu(jax.random.normal(key_x, (5, 12, 11, 6)))
    w = jax.random.normal(key_w, (3, 3, 6, 4))
    out = conv_with_channels_first_copy(x, x.transpose(3, 1, 2, 0), w)
    np.testing.assert_array_equal(out, conv(x, w))
    cotangent = jax.random.normal(key_g, out.shape)
    grad_x, grad_copy, grad_w = jax.vjp(conv_with_channels_first_copy, x, x.transpose(3, 1, 2, 0), w)[1](
        cotangent
    )
    want_x, want_w = jax.vjp(conv, x, w)[1](cotangent)
    np.testing.assert_allclose(grad_x, want_x, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(grad_w, want_w, atol=1e-4, rtol=1e-5)
    # The copy is only read for the kernel gradient; the image's gradient goes to x.
    np.testing.assert_array_equal(grad_copy, np.zeros_like(grad_copy))
