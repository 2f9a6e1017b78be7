"""Toy scenarios: rasterisers, label rules against closed-form boundaries, datasets, the docs' example."""

import re

import numpy as np
import pytest
import yaml

import onepixel
from onepixel.data.blobs import BlobPositionScenario
from onepixel.data.boxes import BoxesScenario
from onepixel.data.ellipses import EllipsesScenario
from onepixel.data.lines import LinesScenario, build_dataset

from .conftest import REPO

NEW = [EllipsesScenario(), BoxesScenario(), BlobPositionScenario()]


def test_the_registry_lists_the_four_scenarios():
    assert sorted(onepixel.scenarios) == ["blob_position", "boxes", "ellipses", "lines"]


def test_lines_through_the_scenario_are_the_studys_dataset_bit_for_bit(config):
    from onepixel.study.config import validate_config

    paper = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))["dataset"]
    default = onepixel.scenarios["lines"]
    assert (default.rasterizer, default.positive_range) == (
        paper["rasterizer"],
        tuple(paper["positive_range_deg"]),
    )
    assert default.dataset_cfg == {k: paper[k] for k in ("length_min", "length_max_margin")}
    for size, step in ((16, 2.0), (17, 4.0)):
        study = build_dataset(size, step, {"dataset": {**paper, "length_min_by_size": {}}})
        ours = onepixel.make_dataset("lines", size, step)
        for name in (
            "images",
            "label",
            "ambiguous",
            "n_generators",
            "generator_image",
            "pair_image",
            "pair_target",
        ):
            np.testing.assert_array_equal(ours[name].values, study[name].values, err_msg=name)
        np.testing.assert_array_equal(ours["rep_angle"].values, study["rep_angle"].values)
        np.testing.assert_array_equal(ours["rep_length"].values, study["rep_length"].values)


@pytest.mark.parametrize("scenario", NEW, ids=lambda s: s.name)
def test_rasteriser_size_binary_and_every_parameter_changes_the_mask(scenario):
    axes = scenario.grid(24, scenario.default_step)
    middle = [float(axis[len(axis) // 2]) for axis in axes]
    mask = scenario.rasterize(24, *middle)
    assert mask.shape == (24, 24) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert 0 < mask.sum() < 24 * 24
    for which, axis in enumerate(axes):
        changed = list(middle)
        changed[which] = float(axis[len(axis) // 2 + 2]) if which < 2 else float(axis[len(axis) // 2 + 1])
        if scenario.name == "ellipses" and which == 2:
            changed[0], changed[1] = 2 * middle[1], middle[1]  # orientation shows on a non-circle
            mask = scenario.rasterize(24, *changed[:2], middle[2])
        assert not np.array_equal(scenario.rasterize(24, *changed), mask), scenario.parameters[which].name


@pytest.mark.parametrize("size", [15, 16])
def test_rasteriser_symmetries(size):
    ellipse = EllipsesScenario().rasterize(size, 5.0, 2.5, 30.0)
    np.testing.assert_array_equal(ellipse, ellipse[::-1, ::-1])  # point-symmetric about the centre
    box = BoxesScenario().rasterize(size, 7.0, 4.0)
    np.testing.assert_array_equal(box, box[::-1])
    np.testing.assert_array_equal(box, box[:, ::-1])
    np.testing.assert_array_equal(box.T, BoxesScenario().rasterize(size, 4.0, 7.0))  # width <-> height
    blob = BlobPositionScenario()
    np.testing.assert_array_equal(
        blob.rasterize(size, 2.5, -1.0), blob.rasterize(size, -2.5, 1.0)[::-1, ::-1]
    )
    # A whole-pixel move of the centre moves the mask: one column right, one row up.
    np.testing.assert_array_equal(
        np.roll(blob.rasterize(size, 0.5, 0.0), 1, axis=1), blob.rasterize(size, 1.5, 0.0)
    )
    np.testing.assert_array_equal(
        np.roll(blob.rasterize(size, 0.5, 0.0), -1, axis=0), blob.rasterize(size, 0.5, 1.0)
    )


def distance_to_segments(points: np.ndarray, segments: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Numerical distance from each point to a union of line segments, by dense sampling."""
    best = np.full(len(points), np.inf)
    for start, stop in segments:
        t = np.linspace(0, 1, 20001)[:, None]
        samples = start + t * (stop - start)
        for chunk in range(0, len(points), 200):
            part = points[chunk : chunk + 200]
            gaps = np.sqrt(((part[:, None, :] - samples[None]) ** 2).sum(-1)).min(axis=1)
            best[chunk : chunk + 200] = np.minimum(best[chunk : chunk + 200], gaps)
    return best


def test_label_rules_and_distances_against_the_closed_form_on_a_grid():
    rng = np.random.default_rng(0)
    # boxes: width > height, distance to the diagonal
    boxes = BoxesScenario()
    wh = rng.uniform(2, 30, (400, 2))
    expected = distance_to_segments(wh, [(np.array([0.0, 0.0]), np.array([40.0, 40.0]))])
    d = boxes.boundary_distance(wh[:, 0], wh[:, 1])
    np.testing.assert_allclose(np.abs(d), expected, atol=2e-3)
    np.testing.assert_array_equal(boxes.label(wh[:, 0], wh[:, 1]), (wh[:, 0] > wh[:, 1]).astype(np.int8))
    assert ((d > 0) == (wh[:, 0] > wh[:, 1])).all()
    # ellipses: max/min axis ratio >= 1.5, distance to the two lines a = 1.5 b and b = 1.5 a
    ellipses = EllipsesScenario()
    ab = rng.uniform(1.5, 20, (400, 2))
    lines = [(np.zeros(2), np.array([45.0, 30.0])), (np.zeros(2), np.array([30.0, 45.0]))]
    d = ellipses.boundary_distance(ab[:, 0], ab[:, 1], 0.0)
    np.testing.assert_allclose(np.abs(d), distance_to_segments(ab, lines), atol=2e-3)
    ratio = ab.max(axis=1) / ab.min(axis=1)
    np.testing.assert_array_equal(ellipses.label(ab[:, 0], ab[:, 1], 30.0), (ratio >= 1.5).astype(np.int8))
    # blob_position: left of the 60-degree line through the centre
    blobs = BlobPositionScenario()
    xy = rng.uniform(-10, 10, (400, 2))
    direction = np.array([np.cos(np.deg2rad(60)), np.sin(np.deg2rad(60))])
    d = blobs.boundary_distance(xy[:, 0], xy[:, 1])
    np.testing.assert_allclose(
        np.abs(d), distance_to_segments(xy, [(-30 * direction, 30 * direction)]), atol=2e-3
    )
    left = direction[0] * xy[:, 1] - direction[1] * xy[:, 0] > 0  # counter-clockwise of the direction
    np.testing.assert_array_equal(blobs.label(xy[:, 0], xy[:, 1]), left.astype(np.int8))
    # lines: the angle to the nearer of 0 and 40 degrees, period 180
    lines_scenario = LinesScenario()
    angles = rng.uniform(0, 180, 400)
    shifts = np.array([-180.0, 0.0, 180.0])
    nearest = np.min(
        np.abs(angles[:, None, None] - np.array([0.0, 40.0])[None, :, None] - shifts), axis=(1, 2)
    )
    d = lines_scenario.boundary_distance(20, angles)
    np.testing.assert_allclose(np.abs(d), nearest, atol=1e-9)
    assert ((d >= 0) == ((angles >= 0) & (angles <= 40))).all()


@pytest.mark.parametrize("name", ["ellipses", "boxes", "blob_position"])
def test_ambiguity_and_one_flip_pairs_found_as_for_lines(name):
    ds = onepixel.make_dataset(name, 12)
    scenario = onepixel.scenarios[name]
    axes = scenario.grid(12, scenario.default_step)
    labels = scenario.label(*np.meshgrid(*axes, indexing="ij")).ravel()
    owners = ds["generator_image"].values.ravel()
    for image in range(ds.sizes["image"]):
        classes = set(labels[owners == image].tolist())
        assert bool(ds["ambiguous"].values[image]) == (classes == {0, 1})
        if classes != {0, 1}:
            assert ds["label"].values[image] == classes.pop()
    images = ds["images"].values.reshape(ds.sizes["image"], -1).astype(int)
    differ = (images[:, None, :] != images[None, :, :]).sum(-1)
    brute = sorted(zip(*np.nonzero(differ == 1), strict=True))
    found = sorted(zip(ds["pair_image"].values.tolist(), ds["pair_target"].values.tolist(), strict=True))
    assert found == [(int(a), int(b)) for a, b in brute]
    assert len(np.unique(images, axis=0)) == len(images)  # unique masks


def test_boxes_has_ambiguous_images_and_distances_next_to_zero_there():
    ds = onepixel.make_dataset("boxes", 16)
    assert 0 < int(ds["ambiguous"].sum()) < ds.sizes["image"]
    assert np.abs(ds["boundary_distance"].values[ds["ambiguous"].values]).max() < 1.0


def test_make_dataset_checks_its_arguments():
    with pytest.raises(ValueError, match=r"scenario='spheres'; use one of \['blob_position', 'boxes'"):
        onepixel.make_dataset("spheres", 16)
    with pytest.raises(ValueError, match=r"size=2.5; use a whole number >= 4"):
        onepixel.make_dataset("boxes", 2.5)
    with pytest.raises(ValueError, match=r"step=0; use a grid step > 0"):
        onepixel.make_dataset("boxes", 16, 0)


def test_the_docs_own_scenario_runs_and_is_searchable():
    """docs/scenarios.md's snippets, as a user copies them; its rings dataset then trains and searches."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "scenarios.md").read_text(), re.DOTALL)
    namespace: dict = {"onepixel": onepixel}
    try:
        for block in blocks:
            exec(block, namespace)  # the documentation's own code
        rings = namespace["dataset"]
        assert rings.attrs["scenario"] == "rings" and rings.sizes["image"] > 20
        assert set(np.unique(rings["label"].values)) == {0, 1}
        assert len(next(b for b in blocks if "class RingsScenario" in b).splitlines()) <= 45
        keep = ~rings["ambiguous"].values
        images, labels = rings["images"].values[keep], rings["label"].values[keep]
        arch = onepixel.Architecture(16, conv_channels=(8,), dense_units=16)
        params = onepixel.CNN(arch).init(__import__("jax").random.key(0), images[:1].astype("float32"))[
            "params"
        ]
        cube = onepixel.flip_search(onepixel.CNN(arch), params, images, labels, progress=False)
        assert cube.attrs["n_candidates"] == len(images) * 256
    finally:
        onepixel.scenarios.pop("rings", None)
