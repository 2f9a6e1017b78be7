"""onepixel.analysis.boundary against plain loops, and examples/scenarios.py end to end on small sizes."""

import importlib.util

import numpy as np
import pytest

from onepixel.analysis.boundary import flip_object_distances, likelihood_by_distance, near_boundary_share

from .conftest import REPO


def test_likelihood_by_distance_is_adv_count_over_images_times_pixels():
    rng = np.random.default_rng(0)
    distance = rng.uniform(-3, 3, 200)
    n_adversarial = rng.integers(0, 5, 200)
    edges = np.linspace(-3, 3, 7)
    centres, likelihood, images = likelihood_by_distance(distance, n_adversarial, 64, edges)
    for b in range(6):
        members = (distance >= edges[b]) & (distance < edges[b + 1])
        assert images[b] == members.sum()
        assert likelihood[b] == pytest.approx(n_adversarial[members].sum() / (members.sum() * 64))
    np.testing.assert_allclose(centres, np.linspace(-2.5, 2.5, 6))
    _, empty, _ = likelihood_by_distance(distance, n_adversarial, 64, np.array([10.0, 11.0]))
    assert np.isnan(empty[0])


def test_near_boundary_share_counts_ties_and_handles_no_flips():
    distance = np.array([0.5, -0.5, 0.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    n_adversarial = np.array([1, 2, 3, 4, 0, 0, 0, 0, 0, 10])
    # The 10 % quantile of |d| is 0.5: three tied images hold 6 of 20 flips.
    assert near_boundary_share(distance, n_adversarial) == pytest.approx(6 / 20)
    assert np.isnan(near_boundary_share(distance, np.zeros(10)))
    with pytest.raises(ValueError, match="fraction=0"):
        near_boundary_share(distance, n_adversarial, 0)


def test_flip_object_distances_by_brute_force():
    rng = np.random.default_rng(1)
    images = (rng.uniform(size=(4, 9, 9)) > 0.85).astype(np.uint8)
    images[3] = 0  # no object at all
    adversarial = rng.uniform(size=(4, 9, 9)) > 0.8
    found = flip_object_distances(images, adversarial)
    expected = []
    for image, flips in zip(images, adversarial, strict=True):
        objects = np.argwhere(image == 1)
        for r, c in np.argwhere(flips):
            expected.append(np.sqrt(((objects - [r, c]) ** 2).sum(1)).min() if len(objects) else np.inf)
    np.testing.assert_allclose(found, expected)
    assert np.isinf(found[-int(adversarial[3].sum()) :]).all()


def test_the_scenarios_example_runs_two_scenarios(capsys):
    spec = importlib.util.spec_from_file_location("scenarios_example", REPO / "examples" / "scenarios.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(
        ["--scenarios", "boxes", "blob_position", "--sizes", "16", "--seeds", "0", "--epochs", "60"]
    )
    assert [r["scenario"] for r in rows] == ["boxes", "blob_position"]
    assert all(r["full_accuracy"] for r in rows) and rows[1]["rate"] > 0
    assert 0 <= rows[1]["near_share"] <= 1 and 0 <= rows[1]["within_1px"] <= 1
    assert "| blob_position | 16 | 0 | 361 | yes |" in capsys.readouterr().out
