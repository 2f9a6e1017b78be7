import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from onepixel.model import Architecture, OnePixelCNN, init_params, max_pool_floor, param_count


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
    logits = OnePixelCNN(arch).apply({"params": params}, jnp.zeros((3, size, size)))
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
