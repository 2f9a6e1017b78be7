"""The study's table rows from hand-made inputs, the result-path parsers, and the defences' training sets."""

import jax
import numpy as np
import pytest

from onepixel.study.paths import parse_net_path, parse_result_path, path_role
from onepixel.study.tables.paper import ambiguous_rows, table1_rows, training_rows
from onepixel.study.tables.variants import round_rows, variant_rows


def summary(epochs=5, seconds=10.0, n_images=100, reached=True, **extra):
    """A training summary with the keys the tables read."""
    return {
        "n_images": n_images,
        "epochs": epochs,
        "max_epochs": 500,
        "final_accuracy": 1.0 if reached else 0.99,
        "final_errors": 0 if reached else 1,
        "reached_full_accuracy": reached,
        "train_seconds": seconds,
        **extra,
    }


def test_table1_counts_against_the_papers(tiny_config):
    from onepixel.study.dataset_stage import study_dataset

    ds = study_dataset(16, 4.0, tiny_config)
    (row,) = table1_rows({(16, 4.0): ds}, {(16, 4.0): 90}, tiny_config)
    ours = int(ds.attrs["n_images"])
    assert row["ours_n_images"] == ours and row["paper_n_images"] == 90
    assert row["ours_diff"] == ours - 90 and row["ours_diff_pct"] == round(100 * (ours / 90 - 1), 2)
    # D = 16 has no closer setting: the closest count is ours.
    assert row["closest_n_images"] == ours and row["closest_length_min"] == 12
    (unknown,) = table1_rows({(16, 4.0): ds}, {}, tiny_config)
    assert unknown["paper_n_images"] == "" and unknown["ours_diff"] == ""
    (amb,) = ambiguous_rows({(16, 4.0): ds})
    assert amb["n_images"] == ours and amb["n_ambiguous"] == int(ds["ambiguous"].values.sum())


def test_training_rows_in_variant_order_and_flag_nets_below_accuracy_one():
    summaries = {
        ("wider", 16, 2.0, 0, "net"): summary(epochs=7, seconds=3.456),
        ("paper", 16, 2.0, 1, "net"): summary(reached=False),
        ("paper", 16, 2.0, 0, "net"): summary(epochs=4),
        ("paper", 16, 2.0, 0, "teacher"): summary(epochs=9),
    }
    rows = training_rows(summaries)
    # Variants in the order first seen (the config's), then D, step, seed, role.
    assert [(r["variant"], r["seed"], r["role"]) for r in rows] == [
        ("wider", 0, "net"),
        ("paper", 0, "net"),
        ("paper", 0, "teacher"),
        ("paper", 1, "net"),
    ]
    assert rows[0]["train_seconds"] == 3.46 and rows[0]["epochs"] == 7
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "NOT CONVERGED (accuracy < 1.0)"]
    assert rows[0]["n_training_images"] == rows[0]["n_images"] == 100


def rate_rows(rates: dict):
    """Per-seed and mean rate rows as ``adversarial_rate_rows`` makes them: {(variant, seed): rate}."""
    per_seed = [
        {"variant": v, "size": 16, "angle_step": 2.0, "seed": s, "adversarial_rate": r}
        for (v, s), r in rates.items()
    ]
    means = []
    for variant in dict.fromkeys(v for v, _ in rates):
        values = np.array([r for (v, _), r in rates.items() if v == variant])
        means.append(
            {
                "variant": variant,
                "size": 16,
                "angle_step": 2.0,
                "n_seeds": values.size,
                "rate_mean": values.mean(),
                "rate_std": values.std(ddof=1),
                "rate_min": values.min(),
                "rate_max": values.max(),
                "seeds_below_accuracy_1": "none",
            }
        )
    return per_seed, means


def test_variant_rows_ratio_cost_and_skipped_sizes():
    rates = {("paper", 0): 1e-3, ("paper", 1): 2e-3, ("smooth", 0): 3e-3, ("smooth", 1): 6e-3}
    per_seed, means = rate_rows(rates)
    training = {(v, 16, 2.0, s): summary(epochs=2 + s, seconds=10.0 * (1 + s)) for v, s in rates}
    teachers = {("smooth", 16, 2.0, s, "teacher"): summary(seconds=5.0) for s in (0, 1)}
    skipped = {"deep": {16: "model: D=16 is too small for 3 conv blocks"}}
    rows = variant_rows(
        per_seed, means, training, teachers, ["paper", "smooth", "deep"], "paper", [(16, 2.0)], skipped
    )
    paper, smooth, deep = rows
    assert paper["ratio_to_paper"] == 1.0 and paper["ratio_ci95_low"] == ""
    assert smooth["ratio_to_paper"] == pytest.approx(4.5e-3 / 1.5e-3)
    assert smooth["ratio_ci95_low"] <= smooth["ratio_to_paper"] <= smooth["ratio_ci95_high"]
    assert smooth["epochs_mean"] == 2.5 and smooth["train_seconds_mean"] == 15.0
    # The teachers' time counts to the variant's cost per net.
    assert smooth["total_train_seconds_per_net"] == (10.0 + 20.0 + 5.0 + 5.0) / 2
    assert deep == {
        "variant": "deep",
        "size": 16,
        "angle_step": 2.0,
        "status": "skipped: model: D=16 is too small for 3 conv blocks",
    }


def test_round_rows_take_each_rounds_flips_from_the_next_rounds_training():
    import xarray as xr

    net = ("adv", 16, 2.0, 0)
    rounds = {
        (*net, "round0"): summary(epochs=6, n_flips_added=0, stopped_no_flips_left=False),
        (*net, "round1"): summary(epochs=3, n_flips_found=40, n_flips_added=38, stopped_no_flips_left=False),
    }
    training = {net: summary(epochs=2, n_flips_found=10, n_flips_added=10, stopped_no_flips_left=False)}
    final = xr.Dataset(attrs={"n_adversarial": 4, "adversarial_rate": 4 / (100 * 256)})
    rows = round_rows(rounds, {net: final}, training)
    assert [r["round"] for r in rows] == [0, 1, 2]
    # Round r's search found what round r + 1 trained on; the last round is the variant's net.
    assert [r["n_adversarial"] for r in rows] == [40, 10, 4]
    assert rows[0]["adversarial_rate"] == pytest.approx(40 / (100 * 256))
    assert [r["epochs"] for r in rows] == [6, 3, 2]


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("results/search/paper/D32_step1.0/seed3.nc", (32, 1.0, 3)),
        ("results/datasets/D80_step0.5.nc", (80, 0.5)),
        ("results/models/wider/D16_step2.0/seed0/params.msgpack", (16, 2.0, 0)),
    ],
)
def test_result_paths_name_their_net(path, parsed):
    assert parse_result_path(path) == parsed


def test_net_paths_name_variant_and_role():
    assert parse_net_path("results/summaries/label_smoothing/D48_step0.5/seed4.nc") == (
        "label_smoothing",
        48,
        0.5,
        4,
    )
    assert path_role("results/rounds/adv/D16_step2.0/seed0/round1/search.nc") == "round1"
    assert path_role("results/teachers/distillation/D16_step2.0/seed0/params.msgpack") == "teacher"
    assert path_role("results/models/paper/D16_step2.0/seed0/params.msgpack") == "net"
    with pytest.raises(ValueError, match="cannot read D, step, seed"):
        parse_result_path("results/tables/rates.csv")
    with pytest.raises(ValueError, match="cannot read variant"):
        parse_net_path("results/datasets/D16_step2.0.nc")


def test_teacher_and_student_sets_of_defensive_distillation(tiny_config):
    from onepixel.models.architecture import Architecture
    from onepixel.models.cnn import CNN, init_params
    from onepixel.study.dataset_stage import study_dataset
    from onepixel.training.defences import clean_images, student_set, teacher_set
    from onepixel.training.train import soft_labels

    config = {**tiny_config, "training": {**tiny_config["training"], "distillation_temperature": 20.0}}
    ds = study_dataset(16, 4.0, config)
    images, labels = clean_images(ds, config)
    teacher = teacher_set(ds, config)
    np.testing.assert_array_equal(teacher.images, images)
    assert teacher.temperature == 20.0 and teacher.targets is None and teacher.n_clean == len(images)
    arch = Architecture(16)
    params = init_params(arch, jax.random.key(3))
    student = student_set(ds, config, arch, params)
    logits = np.asarray(CNN(arch).apply({"params": params}, images.astype(np.float32)))
    # Soft labels: the teacher's sigmoid outputs at T, dropout off.
    np.testing.assert_allclose(student.targets, 1 / (1 + np.exp(-logits / 20.0)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(soft_labels(arch, params, images, 20.0), student.targets)
    assert student.temperature == 20.0 and student.notes == {"temperature": 20.0}
