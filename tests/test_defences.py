"""Defences and deeper nets: label smoothing, distillation, adversarial rounds, fast search on deeper nets."""

import copy

import jax
import numpy as np
import pytest
from flax.training import train_state

import onepixel
from onepixel.data.lines import build_dataset, write_dataset
from onepixel.models.cnn import CNN, Architecture, init_params
from onepixel.search.fast import fast_flip_margins
from onepixel.study.dataset_stage import study_dataset
from onepixel.study.inputs import load_model, open_search
from onepixel.study.search_stage import run_search
from onepixel.study.settings import round_zero_twin
from onepixel.study.train_stage import copy_twin_net, train_model
from onepixel.study.variants import variant_config
from onepixel.training import defences
from onepixel.training.train import label_targets, make_optimizer, train_step, training_loss
from tests.reference import plain_flip_margins


def bce_by_formula(logits, targets):
    """-mean(t log s(z) + (1 - t) log(1 - s(z))), in float64."""
    z, t = np.asarray(logits, np.float64), np.asarray(targets, np.float64)
    s = 1 / (1 + np.exp(-z))
    return float(-np.mean(t * np.log(s) + (1 - t) * np.log(1 - s)))


def test_label_smoothing_loss_equals_the_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (64, 2)).astype(np.float32)
    labels = rng.integers(0, 2, 64)
    eps = 0.1
    targets = label_targets(labels, 2, eps)
    # Keras' binary_crossentropy(label_smoothing=eps): y (1 - eps) + eps / 2.
    expected = np.where(np.eye(2)[labels] == 1, 1 - eps / 2, eps / 2)
    np.testing.assert_allclose(targets, expected, rtol=0, atol=1e-7)
    assert float(training_loss(logits, targets)) == pytest.approx(bce_by_formula(logits, expected), rel=1e-5)
    # eps = 0 is exactly the paper's one-hot loss.
    np.testing.assert_array_equal(label_targets(labels, 2, 0.0), np.eye(2, dtype=np.float32)[labels])


def test_distillation_temperature_divides_the_logits_in_training_only(config):
    arch = Architecture(16)
    model = CNN(arch)
    params = init_params(arch, jax.random.key(3))
    rng = np.random.default_rng(1)
    images = (rng.random((32, 16, 16)) > 0.8).astype(np.float32)
    targets = rng.random((32, 2)).astype(np.float32)
    key = jax.random.key(7)
    temperature = 20.0
    logits = model.apply({"params": params}, images, train=True, rngs={"dropout": key})
    expected = bce_by_formula(np.asarray(logits) / temperature, targets)
    assert float(training_loss(logits, targets, temperature)) == pytest.approx(expected, rel=1e-5)

    def step_loss(t):
        state = train_state.TrainState.create(
            apply_fn=model.apply, params=copy.deepcopy(params), tx=make_optimizer(config["training"])
        )
        return float(train_step(state, images, targets, key, temperature=t)[1])

    assert step_loss(temperature) == pytest.approx(expected, rel=1e-5)
    assert step_loss(1.0) == pytest.approx(bce_by_formula(logits, targets), rel=1e-5)
    # Inference at T = 1: the search's margins are the plain logits' difference.
    cube = onepixel.flip_search(model, params, images, np.zeros(32, int))
    plain = np.asarray(model.apply({"params": params}, images))
    np.testing.assert_allclose(cube["base_margin"].values, plain[:, 0] - plain[:, 1], atol=1e-5)


@pytest.fixture(scope="module")
def d16_files(tmp_path_factory, tiny_config):
    folder = tmp_path_factory.mktemp("defences")
    write_dataset(study_dataset(16, 4.0, tiny_config), folder / "D16_step4.0.nc")
    return folder


def net_files(folder, role):
    return [folder / f"{role}_{name}" for name in ("params.msgpack", "history.csv", "summary.json")]


def test_distillation_student_learns_the_teachers_soft_labels(d16_files, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["variants"] = {"distillation": {"training": {"distillation_temperature": 20.0}}}
    net = variant_config(config, "distillation")
    dataset = d16_files / "D16_step4.0.nc"
    teacher, student = net_files(d16_files, "teacher"), net_files(d16_files, "student")
    train_model(dataset, 16, 4.0, 0, net, *teacher, role="teacher")
    train_model(dataset, 16, 4.0, 0, net, *student, teacher=(teacher[2], teacher[0]))
    _, _, summary = load_model(student[2], student[0], 16, 4.0, 0, net)
    assert summary["temperature"] == 20.0 and summary["reached_full_accuracy"]
    assert summary["training_kind"] == "distillation" and summary["variant"] == "distillation"
    # A teacher is no student: its file is refused at the student's place.
    with pytest.raises(onepixel.io.ResultFileError, match="role=teacher.*expects.*role=net"):
        load_model(teacher[2], teacher[0], 16, 4.0, 0, net)


def test_adversarial_round_trains_on_the_clean_images_plus_exactly_the_last_rounds_flips(
    d16_files, tiny_config
):
    config = copy.deepcopy(tiny_config)
    config["variants"] = {"adv": {"training": {"adversarial_rounds": 2}}}
    net = variant_config(config, "adv")
    dataset = d16_files / "D16_step4.0.nc"
    round0 = net_files(d16_files, "round0")
    train_model(dataset, 16, 4.0, 1, net, *round0, role="round0")
    cube_path = d16_files / "round0_search.nc"
    run_search(dataset, round0[0], round0[2], 16, 4.0, 1, net, cube_path, role="round0")
    cube = open_search(cube_path, 16, 4.0, 1, net, "round0")
    assert cube.attrs["n_adversarial"] > 0

    ds = onepixel.study.inputs.open_dataset(dataset, 16, 4.0, net)
    _, params, _ = load_model(round0[2], round0[0], 16, 4.0, 1, net, "round0")
    data = defences.round_set(ds, net, params, cube, 1)
    clean, clean_labels = defences.clean_images(ds, net)
    # Independently: every (image, pixel) the cube marks adversarial, flipped by hand.
    flips = {}
    for pos, image in enumerate(cube["image"].values):
        for row, col in zip(*np.nonzero(cube["adversarial"].values[pos]), strict=True):
            flipped = ds["images"].values[image].copy()
            flipped[row, col] = 1 - flipped[row, col]
            flips.setdefault(flipped.tobytes(), set()).add(int(cube["label"].values[pos]))
    expected = {k: labels.pop() for k, labels in flips.items() if len(labels) == 1}
    assert data.n_clean == len(clean)
    np.testing.assert_array_equal(data.images[: data.n_clean], clean)
    np.testing.assert_array_equal(data.labels[: data.n_clean], clean_labels)
    added = {
        img.tobytes(): int(label)
        for img, label in zip(data.images[data.n_clean :], data.labels[data.n_clean :], strict=True)
    }
    assert added == expected and len(added) == len(data.images) - data.n_clean
    assert data.notes["n_flips_found"] == cube.attrs["n_adversarial"]
    # None of the flips is a valid image (those are never adversarial).
    valid = {img.tobytes() for img in ds["images"].values}
    assert not valid & set(added)

    round1 = net_files(d16_files, "round1")
    previous = (round0[0], round0[2], cube_path, "round0")
    train_model(dataset, 16, 4.0, 1, net, *round1, role="round1", previous=previous)
    _, _, summary = load_model(round1[2], round1[0], 16, 4.0, 1, net, "round1")
    assert summary["n_training_images"] == data.n_clean + summary["n_flips_added"] == len(data.images)
    assert summary["reached_full_accuracy"] and summary["epochs"] >= 1


def test_round_zero_is_taken_from_the_net_of_the_same_training(d16_files, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["variants"] = {
        "paper": {},
        "smooth": {"training": {"label_smoothing": 0.1}},
        "adv": {"training": {"adversarial_rounds": 2}},
    }
    nets = {name: variant_config(config, name) for name in config["variants"]}
    assert round_zero_twin(nets, "adv", 16) == "paper"
    dataset = d16_files / "D16_step4.0.nc"
    paper, trained, copied = (net_files(d16_files, f"twin_{r}") for r in ("paper", "trained", "copied"))
    cube_of = {r: d16_files / f"twin_{r}.nc" for r in ("paper", "trained", "copied")}
    train_model(dataset, 16, 4.0, 2, nets["paper"], *paper)
    run_search(dataset, paper[0], paper[2], 16, 4.0, 2, nets["paper"], cube_of["paper"])
    # Independently: round 0 trained and searched as its own net.
    train_model(dataset, 16, 4.0, 2, nets["adv"], *trained, role="round0")
    run_search(dataset, trained[0], trained[2], 16, 4.0, 2, nets["adv"], cube_of["trained"], role="round0")
    copy_twin_net((paper[2], paper[0], paper[1]), nets["paper"], 16, 4.0, 2, nets["adv"], *copied)
    twin = (cube_of["paper"], nets["paper"])
    copied_cube = cube_of["copied"]
    run_search(dataset, copied[0], copied[2], 16, 4.0, 2, nets["adv"], copied_cube, role="round0", twin=twin)

    _, params_trained, summary_trained = load_model(trained[2], trained[0], 16, 4.0, 2, nets["adv"], "round0")
    _, params_copied, summary_copied = load_model(copied[2], copied[0], 16, 4.0, 2, nets["adv"], "round0")
    for a, b in zip(jax.tree.leaves(params_trained), jax.tree.leaves(params_copied), strict=True):
        np.testing.assert_array_equal(a, b)
    assert summary_copied["same_net_as"] == str(paper[2]) and "same_net_as" not in summary_trained
    differing = {k for k in summary_trained if summary_trained[k] != summary_copied[k]}
    assert differing <= {"train_seconds", "git_commit", "cpu", "versions"}

    # The history but for the seconds per epoch.
    def without_seconds(path):
        return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]

    assert without_seconds(trained[1]) == without_seconds(copied[1])
    cube_trained = open_search(cube_of["trained"], 16, 4.0, 2, nets["adv"], "round0")
    cube_copied = open_search(cube_of["copied"], 16, 4.0, 2, nets["adv"], "round0")
    assert cube_copied.attrs["role"] == "round0" and cube_copied.attrs["variant"] == "adv"
    for name in cube_trained.variables:
        np.testing.assert_array_equal(cube_trained[name].values, cube_copied[name].values)
    assert cube_copied.attrs["n_adversarial"] == cube_trained.attrs["n_adversarial"] > 0

    # Another variant's net is no round 0: refused, and no twin where none trains the same.
    with pytest.raises(ValueError, match="training differs"):
        copy_twin_net((paper[2], paper[0], paper[1]), nets["smooth"], 16, 4.0, 2, nets["adv"], *copied)
    assert round_zero_twin({k: v for k, v in nets.items() if k != "paper"}, "adv", 16) is None
    config["variants"]["paper"] = {"training": {"max_epochs": 7}}
    assert round_zero_twin({k: variant_config(config, k) for k in config["variants"]}, "adv", 16) is None


def test_conflicting_and_repeated_flips_are_handled():
    clean = np.zeros((2, 4, 4), np.uint8)
    clean[1, 0, 0] = 1
    flip_a, flip_b = clean[0].copy(), clean[0].copy()
    flip_a[3, 3], flip_b[2, 2] = 1, 1
    flips = np.stack([flip_a, flip_a, flip_b, flip_b])
    labels = np.array([0, 0, 0, 1])  # flip_a twice with label 0; flip_b with both labels
    images, out_labels, notes = defences.adversarial_training_set(clean, np.array([0, 1]), flips, labels)
    np.testing.assert_array_equal(images, np.stack([clean[0], clean[1], flip_a]))
    np.testing.assert_array_equal(out_labels, [0, 1, 0])
    assert notes == {"n_flips_found": 4, "n_flips_added": 1, "n_flips_duplicate": 2, "n_flips_conflicting": 1}


@pytest.mark.parametrize(
    "size, channels",
    [
        pytest.param(32, (32, 32, 64), marks=pytest.mark.slow),
        (34, (32, 32, 64)),
        (24, (64, 64)),
        pytest.param(17, (64, 64), marks=pytest.mark.slow),
    ],
    ids=["deeper-D32", "deeper-D34", "wider-D24", "wider-D17"],
)
def test_fast_search_equals_plain_on_deeper_and_wider_nets(config, size, channels):
    arch = Architecture(size, conv_channels=channels)
    params = init_params(arch, jax.random.key(size))
    ds = build_dataset(size, 15.0, config)
    images = ds["images"].values
    # Centre the margins on 0 (output bias), so the flips' decisions go both ways.
    logits = np.asarray(CNN(arch).apply({"params": params}, images.astype(np.float32)))
    params["Dense_1"]["bias"] = params["Dense_1"]["bias"].at[1].add(-np.median(logits[:, 1] - logits[:, 0]))
    plain = plain_flip_margins(arch, params, images, chunk_candidates=4096)
    fast, _ = fast_flip_margins(arch, params, images)
    np.testing.assert_array_equal(fast > 0, plain > 0)
    np.testing.assert_allclose(fast, plain, atol=1e-4, rtol=0)
    assert fast.shape == (len(images), size, size) and (fast > 0).any() and (fast < 0).any()
