"""Optimisation attacks against a planted truth: a net whose vulnerable pixels are known by construction."""

import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import onepixel
from onepixel import attacks

SIZE = 8
PIXEL_A, PIXEL_B = (2, 3), (5, 6)  # asymmetric: a transposed row/col lands elsewhere


class Planted(nn.Module):
    """Margin of class 1: 10 (x_a + x_b) - 5, so the vulnerable pixels follow from x_a and x_b."""

    @nn.compact
    def __call__(self, images, train: bool = False):
        return nn.Dense(2)(images.reshape(images.shape[0], -1))


def planted_params():
    kernel = np.zeros((SIZE * SIZE, 2), np.float32)
    for row, col in (PIXEL_A, PIXEL_B):
        kernel[row * SIZE + col, 1] = 10.0
    return {"Dense_0": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray([0.0, -5.0])}}


def planted_images():
    """Every (x_a, x_b) state over random backgrounds; the label is the net's own class."""
    rng = np.random.default_rng(0)
    images = (rng.random((12, SIZE, SIZE)) < 0.3).astype(np.uint8)
    for i, (a, b) in enumerate([(1, 0), (0, 1), (1, 1), (0, 0)] * 3):
        images[i][PIXEL_A], images[i][PIXEL_B] = a, b
    return images


def hand_built_cube(images):
    """Vulnerable pixels by hand: (1, 0) -> a; (0, 1) -> b; (1, 1) -> none; (0, 0) -> a and b."""
    vulnerable = np.zeros(images.shape, bool)
    labels = np.zeros(len(images), int)
    for i, image in enumerate(images):
        a, b = int(image[PIXEL_A]), int(image[PIXEL_B])
        labels[i] = int(a + b >= 1)
        if a + b == 1:
            vulnerable[i][PIXEL_A if a else PIXEL_B] = True
        elif a + b == 0:
            vulnerable[i][PIXEL_A] = vulnerable[i][PIXEL_B] = True
    return vulnerable, labels


@pytest.fixture(scope="module")
def planted():
    images = planted_images()
    vulnerable, labels = hand_built_cube(images)
    model, params = Planted(), planted_params()
    # The exhaustive search agrees with the hand-built cube: the truth is right.
    cube = onepixel.flip_search(model, params, images, labels)
    np.testing.assert_array_equal(cube["misclassified"].values, vulnerable)
    return model, params, images, labels, vulnerable


def recall(result, vulnerable):
    hit = np.array(
        [result.found[i] and vulnerable[i, result.row[i], result.col[i]] for i in range(len(vulnerable))]
    )
    return hit[vulnerable.any(axis=(1, 2))].mean(), hit


@pytest.mark.parametrize("name", ["random", "gradient", "de"])
def test_each_attack_on_the_planted_truth(planted, name):
    model, params, images, labels, vulnerable = planted
    run = {
        "random": lambda: attacks.random_attack(model, params, images, labels, budget=SIZE * SIZE, seed=1),
        "gradient": lambda: attacks.gradient_attack(model, params, images, labels, budget=SIZE * SIZE),
        "de": lambda: attacks.de_attack(model, params, images, labels, max_iter=5, seed=1),
    }[name]
    result = run()
    print(name, "found", result.found.sum(), "queries", result.queries.tolist())
    # Every reported success is a real one-pixel misclassification, and one of the known ones.
    np.testing.assert_array_equal(attacks.verify_flips(model, params, images, labels, result), result.found)
    found_recall, hit = recall(result, vulnerable)
    np.testing.assert_array_equal(hit, result.found)
    # Never a success on an invulnerable image.
    assert not result.found[~vulnerable.any(axis=(1, 2))].any()
    assert (result.queries > 0).all() and (result.seconds > 0).all()
    if name in ("random", "gradient"):
        # A budget of D^2 flips every pixel: nothing can be missed.
        assert found_recall == 1.0
    else:
        assert found_recall > 0.5  # 64 pixels, ~400 proposals per generation: DE finds most
    if name == "gradient":
        # The gradient ranks the planted pixels first: one flip (+ the gradient) finds it.
        assert (result.queries[result.found] == 2).all()
        flat = [PIXEL_A[0] * SIZE + PIXEL_A[1], PIXEL_B[0] * SIZE + PIXEL_B[1]]
        assert np.isin(result.ranks[:, 0], flat)[vulnerable.any(axis=(1, 2))].all()


def test_a_fixed_seed_gives_the_same_de_and_random_results(planted):
    model, params, images, labels, _ = planted
    for run in (
        lambda s: attacks.random_attack(model, params, images, labels, budget=20, seed=s),
        lambda s: attacks.de_attack(model, params, images[:4], labels[:4], max_iter=2, seed=s),
    ):
        first, again = run(3), run(3)
        for field in ("found", "row", "col", "queries"):
            np.testing.assert_array_equal(getattr(first, field), getattr(again, field))


def test_nets_of_one_size_share_the_attacks_compiles(planted):
    """The weights are an argument of the compiled functions, not constants: a second net
    (other weights, same shapes) reuses every compile of the first and gets its own answers."""
    model, params, images, labels, _ = planted
    other = jax.tree_util.tree_map(lambda w: -w, params)
    compiled = (attacks.base._predicted_labels, attacks.gradient._margin_gradients, attacks.de._probabilities)

    def attack_with(weights):
        attacks.random_attack(model, weights, images[:4], labels[:4], budget=8, seed=0)
        attacks.gradient_attack(model, weights, images[:4], labels[:4], budget=8)
        attacks.de_attack(model, weights, images[:2], labels[:2], max_iter=1, seed=0)
        return [fn._cache_size() for fn in compiled]

    sizes = attack_with(params)
    assert attack_with(other) == sizes
    flipped = np.asarray(attacks.make_label_fn(model, other)(images))
    np.testing.assert_array_equal(flipped, 1 - np.asarray(attacks.make_label_fn(model, params)(images)))


def test_de_classifies_each_distinct_proposal_once(planted):
    """ART proposes >= 399 images per generation; binarised they are the image or one of its D^2 flips."""
    model, params, images, labels, _ = planted
    result = attacks.de_attack(model, params, images, labels, max_iter=5, seed=1)
    classified = result.extra["classified"]
    assert (classified >= 1).all() and (classified <= SIZE * SIZE + 1).all()
    assert (classified < result.queries).all()


def random_planted_net(rng, bias):
    """The planted architecture with random weights, and its jitted class probabilities of flat images."""
    model = Planted()
    params = {
        "Dense_0": {
            "kernel": jnp.asarray(rng.normal(size=(SIZE * SIZE, 2)), jnp.float32),
            "bias": jnp.asarray(bias, jnp.float32),
        }
    }
    probabilities = jax.jit(
        lambda b: jax.nn.softmax(
            model.apply({"params": params}, b.reshape(-1, SIZE, SIZE).astype(jnp.float32))
        )
    )
    return model, params, probabilities


def test_remembered_answers_equal_a_plain_classification_of_every_proposal():
    """The image itself, single flips (repeated across and within batches) and two-pixel changes."""
    rng = np.random.default_rng(4)
    _, _, probabilities = random_planted_net(rng, [0.0, 0.0])
    image = planted_images()[0].reshape(-1)
    proposals = np.repeat(image[None], 60, axis=0)
    single = rng.integers(0, SIZE * SIZE, 40)  # a few pixels, so most are repeats
    single[::3] = single[0]
    proposals[np.arange(40), single] ^= 1
    for row in range(45, 60):  # 40-44: the image itself
        proposals[row, rng.choice(SIZE * SIZE, 2, replace=False)] ^= 1
    proposals = proposals[rng.permutation(60)]
    shapes = []

    def recorded(batch):
        shapes.append(len(batch))
        return probabilities(batch)

    queries = attacks.de._OneImageQueries(recorded, image.reshape(SIZE, SIZE), chunk=16, smallest=8)
    for batch in np.split(proposals, [7, 47]):
        expected = np.asarray(probabilities(batch))
        np.testing.assert_allclose(queries(batch.reshape(-1, SIZE, SIZE)), expected, rtol=1e-6, atol=1e-7)
    assert set(shapes) <= {8, 16} and 16 in shapes  # padded to powers of two, at most the chunk
    assert queries.queries == 60
    assert queries.classified == len(set(single.tolist())) + 1 + 15
    assert sorted(queries.known) == sorted({-1, *single.tolist()})


def searched_flips(model, params, images, labels):
    cube = onepixel.flip_search(model, params, images, labels)
    return attacks.SearchedFlips(
        cube["misclassified"].values, cube["margin"].values, cube["base_margin"].values
    )


def test_answers_from_a_search_give_each_attack_the_same_results(planted):
    """The same queries answered from an exhaustive search of the net: the same flips and counts,
    and DE asks the network nothing about a one-pixel proposal."""
    model, params, images, labels, _ = planted
    answers = searched_flips(model, params, images, labels)
    runs = {
        "random": lambda a: attacks.random_attack(
            model, params, images, labels, budget=20, seed=3, answers=a
        ),
        "gradient": lambda a: attacks.gradient_attack(model, params, images, labels, budget=30, answers=a),
        "de": lambda a: attacks.de_attack(model, params, images, labels, max_iter=5, seed=1, answers=a),
    }
    for name, run in runs.items():
        asked, answered = run(None), run(answers)
        for field in ("found", "row", "col", "queries"):
            np.testing.assert_array_equal(getattr(answered, field), getattr(asked, field), err_msg=name)
        assert answered.found.any(), name
    np.testing.assert_array_equal(answered.extra["classified"], asked.extra["classified"])


def test_de_answers_one_pixel_proposals_from_the_search_and_classifies_the_rest():
    model, params, probabilities = random_planted_net(np.random.default_rng(5), [0.3, -0.2])
    image = planted_images()[1]
    label = int(np.argmax(np.asarray(probabilities(image[None]))[0]))
    flips = attacks.base.flipped(image, np.arange(SIZE * SIZE))
    logits = np.asarray(
        model.apply({"params": params}, np.concatenate([flips, image[None]]).astype(np.float32))
    )
    margins = logits[:, label] - logits[:, 1 - label]
    known = attacks.de.probabilities_from_margins(margins, label)
    np.testing.assert_allclose(
        known, np.asarray(probabilities(np.concatenate([flips, image[None]]))), rtol=1e-5
    )
    calls = []

    def recorded(batch):
        calls.append(len(batch))
        return probabilities(batch)

    queries = attacks.de._OneImageQueries(recorded, image, chunk=16, smallest=8, answers=known)
    proposals = np.concatenate([flips[[3, 9, 3]], image[None], flips[9:10]])
    np.testing.assert_array_equal(queries(proposals), known[[3, 9, 3, -1, 9]])
    assert calls == [] and queries.queries == 5 and queries.classified == 3
    two = image.copy()
    two.reshape(-1)[[0, 1]] ^= 1
    np.testing.assert_allclose(queries(two[None]), np.asarray(probabilities(two[None])), rtol=1e-6)
    assert calls == [8] and queries.classified == 4


def test_probabilities_from_margins_round_as_the_softmax_of_the_logits():
    margins = np.array([-40.0, -3.5, -1e-3, 0.0, 2e-7, 0.7, 17.0, 40.0], np.float32)
    for label in (0, 1):
        logits = np.zeros((len(margins), 2), np.float32)
        logits[:, label] = margins
        expected = np.asarray(jax.nn.softmax(jnp.asarray(logits)))
        got = attacks.de.probabilities_from_margins(margins, label)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-30)
        assert got[-1, label] == expected[-1, label] == 1.0  # saturates where the network's does


def test_searched_flips_of_other_images_are_refused(planted):
    model, params, images, labels, _ = planted
    answers = searched_flips(model, params, images[:3], labels[:3])
    with pytest.raises(ValueError, match=r"searched flips of \(3, 8, 8\) images; the attack has \(4, 8, 8\)"):
        attacks.random_attack(model, params, images[:4], labels[:4], budget=5, seed=0, answers=answers)
    with pytest.raises(ValueError, match="must both be"):
        attacks.SearchedFlips(np.zeros((2, 8, 8), bool), np.zeros((2, 8, 7)), np.zeros(2))
    with pytest.raises(ValueError, match="base_margin"):
        attacks.SearchedFlips(np.zeros((2, 8, 8), bool), np.zeros((2, 8, 8)), np.zeros(3))


def test_the_art_wrapper_binarises_and_keeps_rows_and_columns():
    """ART proposes grey values, channels first (m, 1, D, D): binarised at 0.5, the pixel stays (2, 3)."""
    assert attacks.binarise([0.0, 0.49, 0.5, 1.0]).tolist() == [0, 0, 1, 1]
    model, params = Planted(), planted_params()
    image = np.zeros((1, SIZE, SIZE), np.uint8)
    image[0][PIXEL_A] = 1  # class 1, vulnerable only at PIXEL_A
    result = attacks.de_attack(model, params, image, np.array([1]), max_iter=10, seed=0)
    assert result.found[0] and (result.row[0], result.col[0]) == PIXEL_A


def test_budgets_are_checked():
    model, params = Planted(), planted_params()
    images = planted_images()
    with pytest.raises(ValueError, match="budget=0"):
        attacks.random_attack(model, params, images, np.zeros(12, int), budget=0, seed=0)
    with pytest.raises(ValueError, match="max_iter=1.5"):
        attacks.de_attack(model, params, images, np.zeros(12, int), max_iter=1.5, seed=0)
    assert jax.numpy.asarray(images).shape == (12, SIZE, SIZE)


def test_images_are_sampled_stratified_by_vulnerability():
    from onepixel.attacks.scores import select_images, vulnerability_bin

    counts = np.array([0] * 50 + [1] * 3 + [2] * 2 + [5] * 30 + [40] * 30)
    chosen = select_images(counts, cap=15, n_invulnerable=4, seed=0)
    bins = vulnerability_bin(counts[chosen])
    # All 5 rare images (1-2 vulnerable pixels), 5 + 5 of the others, 4 invulnerable.
    assert [(bins == k).sum() for k in (-1, 0, 1, 2)] == [4, 5, 5, 5]
    # A bin with too few gives its share to the others.
    chosen = select_images(counts, cap=30, n_invulnerable=0, seed=0)
    assert (vulnerability_bin(counts[chosen]) == 0).sum() == 5 and len(chosen) == 30
    assert (
        select_images(counts, cap=15, n_invulnerable=4, seed=0).tolist()
        == select_images(counts, cap=15, n_invulnerable=4, seed=0).tolist()
    )


def test_recall_against_a_hand_built_cube(planted):
    import xarray as xr

    from onepixel.attacks.scores import first_hit_rank, found_adversarial, recall_at
    from onepixel.study.tables.attacks import attack_recall_rows

    model, params, images, labels, vulnerable = planted
    result = attacks.gradient_attack(model, params, images, labels, budget=SIZE * SIZE)
    ranks = first_hit_rank(result.ranks, vulnerable)
    has = vulnerable.any(axis=(1, 2))
    assert (ranks[has] == 1).all() and (ranks[~has] == 0).all()
    assert recall_at(ranks, has, 1) == 1.0
    # A random order: the first hit's rank is where the vulnerable pixel was tried.
    order = np.tile(np.arange(SIZE * SIZE)[::-1], (len(images), 1))
    expected = [
        1 + order[0].tolist().index(np.flatnonzero(v.ravel()).max()) if v.any() else 0 for v in vulnerable
    ]
    np.testing.assert_array_equal(first_hit_rank(order, vulnerable), expected)
    hit = found_adversarial(result.found, result.row, result.col, vulnerable)
    # The attack table's row, as the workflow makes it from the attack file.
    per_image = {
        "hit": hit,
        "n_vulnerable": vulnerable.sum(axis=(1, 2)),
        "queries": result.queries,
        "seconds": result.seconds,
        "first_hit_rank": ranks,
    }
    attack_file = xr.Dataset({k: ("image", v) for k, v in per_image.items()})
    attack_file.attrs["exhaustive_seconds_per_image"] = 0.01
    (row,) = attack_recall_rows({("gradient", "paper", SIZE, 4.0, 0): attack_file})
    assert row["recall_mean"] == 1.0 and row["recall_at_1"] == 1.0
    assert row["n_1-2"] == int(has.sum()) and row["recall_1-2"] == 1.0
    assert row["n_vulnerable"] == int(has.sum()) and row["false_successes_on_invulnerable"] == 0


def test_art_is_imported_by_the_de_attack_only_and_keeps_the_log_file_open(tmp_path):
    # A job's log is a FileHandler opened "w"; ART's import reconfigures logging.
    script = f"""
import logging, sys
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_attacks import Planted, planted_images, planted_params
from onepixel import attacks
logging.basicConfig(filename={str(tmp_path / "job.log")!r}, filemode="w", level=logging.INFO, force=True)
images = planted_images()
labels = np.ones(len(images), int)
attacks.random_attack(Planted(), planted_params(), images[:2], labels[:2], budget=5, seed=0)
attacks.gradient_attack(Planted(), planted_params(), images[:2], labels[:2], budget=5)
logging.info("art imported before de: %s", "art" in sys.modules)
attacks.de_attack(Planted(), planted_params(), images[:1], labels[:1], max_iter=1, seed=0)
logging.info("after de: art imported %s", "art" in sys.modules)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    log = (tmp_path / "job.log").read_text()
    assert "art imported before de: False" in log
    assert "after de: art imported True" in log


def test_the_de_attack_loads_two_of_arts_modules_and_art_imports_as_usual_after(tmp_path):
    # ART's package __init__s import every attack and estimator; the DE attack
    # needs two modules. A later `import art` must still give all of ART, the
    # same classes, and leave the job's log file open.
    script = f"""
import logging, sys
from onepixel.art_import import import_art_modules
logging.basicConfig(filename={str(tmp_path / "job.log")!r}, filemode="w", level=logging.INFO, force=True)
pixel_threshold, blackbox = import_art_modules(
    "art.attacks.evasion.pixel_threshold", "art.estimators.classification.blackbox"
)
logging.info("other attacks loaded: %s", "art.attacks.evasion.fast_gradient" in sys.modules)
import art
import art.attacks.evasion.pixel_threshold
from art.attacks.evasion import FastGradientMethod, PixelAttack
from art.estimators.classification import BlackBoxClassifierNeuralNetwork
assert PixelAttack is pixel_threshold.PixelAttack
assert BlackBoxClassifierNeuralNetwork is blackbox.BlackBoxClassifierNeuralNetwork
assert art.attacks.evasion.pixel_threshold is pixel_threshold
logging.info("after import art: version %s, %s", art.__version__, FastGradientMethod.__name__)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    log = (tmp_path / "job.log").read_text()
    assert "other attacks loaded: False" in log
    assert "after import art: version 1." in log and "FastGradientMethod" in log
