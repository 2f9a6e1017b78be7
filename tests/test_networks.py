"""Cross-network analyses on small cubes where every number is known; the ensemble against a forward pass."""

import jax
import numpy as np
import pytest

from onepixel.analysis.networks import (
    auc,
    auc_from_counts,
    class_pixel_counts,
    ensemble_margin,
    majority_wrong,
    transfer,
    universal_pixels,
    wrong_from_margin,
)
from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, init_params
from onepixel.models.inference import make_margin_fn
from onepixel.search.api import flip_search
from onepixel.search.cube import dataset_landing
from onepixel.study.network_stage import analyse_networks, quartile_shares


def cube_of(*flips, shape=(2, 3, 3)):
    cube = np.zeros(shape, bool)
    for flip in flips:
        cube[flip] = True
    return cube


def test_transfer_share_and_jaccard_of_hand_built_sets():
    a = cube_of((0, 0, 0), (0, 1, 1), (1, 2, 2))
    b = cube_of((0, 0, 0), (1, 2, 2), (1, 0, 0))
    share, jaccard, n_a, n_b, both = transfer(a, b)
    assert (share, jaccard, n_a, n_b, both) == (pytest.approx(2 / 3), pytest.approx(2 / 4), 3, 3, 2)
    assert transfer(b, a)[0] == pytest.approx(2 / 3)
    assert transfer(a, a)[:2] == (1.0, 1.0)
    empty = cube_of()
    assert np.isnan(transfer(empty, a)[0]) and transfer(a, empty)[0] == 0.0
    assert np.isnan(transfer(empty, empty)[1])
    with pytest.raises(ValueError, match="same images"):
        transfer(a, np.zeros((1, 3, 3), bool))


def test_universal_pixel_counts_per_class():
    adversarial = cube_of((0, 1, 1), (1, 1, 1), (2, 1, 1), (2, 0, 2), shape=(4, 3, 3))
    label = np.array([0, 0, 1, 1])
    counts, images = class_pixel_counts(adversarial, label)
    assert images.tolist() == [2, 2]
    assert counts[0, 1, 1] == 2 and counts[1, 1, 1] == 1 and counts[1, 0, 2] == 1 and counts.sum() == 4
    universal = universal_pixels(counts, images, 1.0)
    assert np.argwhere(universal).tolist() == [[0, 1, 1]]
    assert universal_pixels(counts, images, 0.5).sum() == 3
    with pytest.raises(ValueError, match="share"):
        universal_pixels(counts, images, 0.0)


def test_auc_of_a_perfect_a_reversed_and_a_useless_predictor():
    positive = np.array([True, True, False, False, False])
    assert auc(np.array([5.0, 4, 1, 2, 3]), positive) == 1.0
    assert auc(np.array([-5.0, -4, 1, 2, 3]), positive) == 0.0
    assert auc(np.ones(5), positive) == 0.5
    assert np.isnan(auc(np.arange(3.0), np.ones(3, bool)))


def test_auc_matches_counting_every_pair_and_the_histogram_form():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, 300).astype(float)
    positive = rng.random(300) < scores / 8
    pos, neg = scores[positive], scores[~positive]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    expected = pairs / (len(pos) * len(neg))
    assert auc(scores, positive) == pytest.approx(expected)
    pos_counts = np.bincount(pos.astype(int), minlength=6)
    neg_counts = np.bincount(neg.astype(int), minlength=6)
    assert auc_from_counts(pos_counts, neg_counts) == pytest.approx(expected)


def test_quartile_shares_are_exact_conditional_rates():
    values = np.array([8.0, 1, 2, 7, 3, 4, 5, 6])
    positive = np.array([True, True, True, False, False, False, False, False])
    # Quartiles by value: {1, 2}, {3, 4}, {5, 6}, {7, 8}.
    assert quartile_shares(values, positive).tolist() == [1.0, 0.0, 0.0, 0.5]
    tied = quartile_shares(np.zeros(8), positive)
    assert np.isfinite(tied).all() and tied.mean() == pytest.approx(positive.mean())


def test_decisions_from_margins_follow_argmax_ties():
    margin = np.array([[0.5, -0.1, 0.0], [0.0, 1.0, -2.0]])
    label = np.array([1, 0])
    # A tie: argmax takes class 0, wrong iff the label is 1.
    assert wrong_from_margin(margin, label).tolist() == [[False, True, True], [False, False, True]]
    votes = [np.array([True, False, True]), np.array([True, False, False]), np.array([False, True, False])]
    assert majority_wrong(votes).tolist() == [True, False, False]
    assert majority_wrong(votes[:2]).tolist() == [True, False, False]  # 1 of 2 is no majority
    mean, unsure = ensemble_margin([np.array([1.0, -1.0]), np.array([-0.99995, 0.5])], tolerance=1e-4)
    assert mean.tolist() == pytest.approx([2.5e-5, -0.25]) and unsure.tolist() == [True, False]


@pytest.fixture(scope="module")
def three_nets():
    """Three untrained 16 x 16 CNNs searched on the boxes (many adversarial flips each)."""
    import onepixel

    ds = onepixel.make_dataset("boxes", 16, 1.0)
    chosen = np.flatnonzero(~ds["ambiguous"].values)
    arch = Architecture(16)
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    cubes, members = {}, {}
    for seed in range(3):
        params = init_params(arch, jax.random.PRNGKey(10 + seed))
        cubes[("paper", seed)] = flip_search(
            CNN(arch),
            params,
            images,
            labels,
            lands_on=dataset_landing(ds, chosen),
            image_coords={"image": ds["image"].values[chosen]},
            progress=False,
        )
        members[("paper", seed)] = (arch, params)
    return ds, cubes, members


def direct_class_one_margins(ds, cube, members):
    """Every candidate of the cube, flipped and passed through each member (N, D, D) per member."""
    images = ds["images"].values[cube["image"].values].astype(np.float32)
    n, size, _ = images.shape
    flipped = np.repeat(images[:, None], size * size, axis=1).reshape(n * size * size, size, size)
    index = np.arange(n * size * size)
    rows, cols = (index % (size * size)) // size, index % size
    flipped[index, rows, cols] = 1 - flipped[index, rows, cols]
    return [
        np.asarray(make_margin_fn(arch)(params, flipped), np.float64).reshape(n, size, size)
        for arch, params in members
    ]


def test_the_ensembles_from_cubes_equal_a_direct_forward_pass_on_every_candidate(three_nets):
    ds, cubes, members = three_nets
    first = cubes[("paper", 0)]
    label = first["label"].values
    on_manifold = first["on_manifold"].values
    direct = direct_class_one_margins(ds, first, list(members.values()))
    # The mean-logit ensemble: class 1 iff the members' mean logit difference > 0.
    ensemble_wrong = (np.mean(direct, axis=0) > 0).astype(int) != label[:, None, None]
    mean, unsure = ensemble_margin([cubes[k]["margin"].values for k in sorted(cubes)], 1e-4)
    # Away from 0 the members' stored margins decide; near 0 the stage asks a plain pass.
    assert np.array_equal(wrong_from_margin(mean, label)[~unsure], ensemble_wrong[~unsure])
    member_wrong = [(m > 0).astype(int) != label[:, None, None] for m in direct]
    vote = np.sum(member_wrong, axis=0) >= 2
    assert np.array_equal(majority_wrong([cubes[k]["misclassified"].values for k in sorted(cubes)]), vote)
    result = analyse_networks(ds, cubes, members, {"dataset": {"scenario": "boxes"}}, 1e-4)
    assert int(result["ensemble_adversarial"].values[0]) == int((ensemble_wrong & ~on_manifold).sum())
    assert int(result["ensemble_unsure"].values[0]) == int(unsure.sum())
    assert int(result["majority_adversarial"].values[0]) == int((vote & ~on_manifold).sum())
    assert int(result["ensemble_checked"].values[0]) > 200
    # The transfer matrix is transfer() of every ordered pair.
    keys = sorted(cubes)
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            share, jaccard, *_ = transfer(cubes[a]["adversarial"].values, cubes[b]["adversarial"].values)
            assert result["transfer_share"].values[i, j] == pytest.approx(share)
            assert result["jaccard"].values[i, j] == pytest.approx(jaccard)
    assert result["n_adversarial"].values.tolist() == [
        int(cubes[k]["adversarial"].values.sum()) for k in keys
    ]


def test_a_wrong_cube_stops_the_ensemble_check(three_nets):
    ds, cubes, members = three_nets
    broken = dict(cubes)
    tampered = cubes[("paper", 1)].copy(deep=True)
    tampered["margin"].values[:] = -np.abs(tampered["margin"].values) - 50  # every candidate "wrong"
    broken[("paper", 1)] = tampered
    with pytest.raises(RuntimeError, match="differs from a plain forward pass"):
        analyse_networks(ds, broken, members, {"dataset": {"scenario": "boxes"}}, 1e-4)


def test_the_analysis_pages_snippet_runs(capsys):
    """docs/analysis.md's example, as a user copies it."""
    import re

    from .conftest import REPO

    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "analysis.md").read_text(), re.DOTALL)
    assert len(blocks) == 1
    namespace: dict = {}
    exec(blocks[0], namespace)  # the documentation's own code
    assert 0 <= namespace["share"] <= 1 and 0 <= namespace["jaccard"] <= 1
    assert namespace["ensemble_flips"] >= 0 and 0 <= namespace["margin_auc"] <= 1
    assert "transfer" in capsys.readouterr().out
