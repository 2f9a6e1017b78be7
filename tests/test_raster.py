import numpy as np
import pytest

from onepixel.data.raster import RASTERIZERS, rasterize

ANGLES = np.arange(0, 180, 7.5)


@pytest.mark.parametrize("method", RASTERIZERS)
@pytest.mark.parametrize("size", [16, 17, 32])
def test_line_is_centred(method, size):
    centre = (size - 1) / 2
    for angle in ANGLES:
        rows, cols = np.nonzero(rasterize(size, 12, angle, method))
        # rotate_spline draws on row size // 2, half a pixel off for even D,
        # and thresholding moves the ends by up to half a pixel more.
        assert np.hypot(rows.mean() - centre, cols.mean() - centre) <= 1.0


@pytest.mark.parametrize("size", [16, 17, 32])
def test_segment_distance_is_point_symmetric(size):
    for length in (12, 13, size - 2):
        for angle in ANGLES:
            image = rasterize(size, length, angle, "segment_distance")
            np.testing.assert_array_equal(image, image[::-1, ::-1])


@pytest.mark.parametrize("size", [17, 33])
def test_rotate_spline_is_point_symmetric_for_odd_size(size):
    # For odd D the centre row is its own mirror, so the image must be symmetric.
    for length in (12, 13, size - 2):
        for angle in ANGLES:
            image = rasterize(size, length, angle, "rotate_spline")
            mismatched = int((image != image[::-1, ::-1]).sum())
            assert mismatched == 0, (length, angle)


@pytest.mark.parametrize("method", RASTERIZERS)
def test_half_turn_maps_angle_to_angle_plus_180(method):
    for angle in ANGLES:
        a = rasterize(32, 20, angle, method)
        b = rasterize(32, 20, angle + 180, method)
        assert (a != b[::-1, ::-1]).sum() <= 2


@pytest.mark.parametrize("method", RASTERIZERS)
def test_pixel_count_monotone_in_length(method):
    size = 32
    for angle in ANGLES:
        counts = [rasterize(size, length, angle, method).sum() for length in range(12, size - 1)]
        assert all(b >= a for a, b in zip(counts, counts[1:], strict=False)), (angle, counts)


def test_rasterizers_agree_on_orientation():
    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    for angle in (20, 40, 70, 135, 160):
        a = rasterize(48, 40, angle, "rotate_spline").astype(bool)
        b = rasterize(48, 40, angle, "segment_distance").astype(bool)
        mirrored = rasterize(48, 40, 180 - angle, "segment_distance").astype(bool)
        assert iou(a, b) > 0.3 and iou(a, b) > 3 * iou(a, mirrored), angle


def test_horizontal_line_has_expected_pixels():
    image = rasterize(16, 12, 0.0, "rotate_spline")
    expected = np.zeros((16, 16), np.uint8)
    expected[8, 2:14] = 1
    np.testing.assert_array_equal(image, expected)


def test_unknown_rasterizer_names_the_key():
    with pytest.raises(ValueError, match="dataset.rasterizer"):
        rasterize(16, 12, 0.0, "bresenham")
