"""Toy scenarios in the study: config keys, the scenario path level, summaries and tables vs plain loops."""

import copy

import jax
import numpy as np
import pytest

from onepixel.io import ResultFileError
from onepixel.models.architecture import Architecture
from onepixel.models.cnn import CNN, init_params
from onepixel.search.api import flip_search
from onepixel.search.cube import dataset_landing
from onepixel.study.config import ConfigError, validate_config
from onepixel.study.dataset_stage import make_dataset, study_dataset
from onepixel.study.inputs import net_identity, open_dataset
from onepixel.study.scenario_summary import distance_bins, pixel_object_distance, summarise_scenario_search
from onepixel.study.scenarios import (
    net_key,
    parse_scenario_path,
    single_scenario_config,
    split_net_key,
)
from onepixel.study.settings import dataset_settings
from onepixel.study.tables.scenarios import add_histograms, claim_rows, scenario_rows
from onepixel.study.variants import variant_config


@pytest.fixture
def scenario_config(config):
    """The tiny config running the lines and the boxes (1 px grid)."""
    config = copy.deepcopy(config)
    config["dataset"]["scenario"] = ["lines", "boxes"]
    config["dataset"]["grids"] = {"boxes": {"steps": [1.0]}}
    return validate_config(config)


def test_the_default_scenario_is_the_lines_with_the_paper_settings(config):
    assert config["dataset"]["scenario"] == "lines"
    assert set(dataset_settings(config, 16)) == {
        "rasterizer",
        "length_min",
        "length_max_margin",
        "positive_range_deg",
    }
    assert "scenario" not in net_identity(16, 2.0, 0, variant_config(config, "paper"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"scenario": ["lines", "spheres"]},
            "config key 'dataset.scenario': 'spheres' is not a scenario. Fix: use one of",
        ),
        (
            {"scenario": "boxes", "grids": {"ellipses": {"steps": [1.0]}}},
            "config key 'dataset.grids.boxes': missing for the chosen scenario. "
            "Fix: add dataset.grids.boxes: {steps: [0.5]}",
        ),
        (
            {"scenario": "boxes", "grids": {"boxes": {"steps": [1.0], "smalest": 2}}},
            "config key 'dataset.grids.boxes': BoxesScenario.__init__() got an unexpected keyword",
        ),
        (
            {"scenario": "ellipses", "grids": {"ellipses": {"steps": [1.0], "ratio": 0.5}}},
            "config key 'dataset.grids.ellipses': ellipses: ratio=0.5; use an axis ratio > 1",
        ),
        (
            {"scenario": "boxes", "grids": {"boxes": {"steps": [30.0]}}},
            "config key 'dataset.grids.boxes.steps': step 30.0 gives no images of both classes at D=16",
        ),
        (
            {"grids": {"lines": {"steps": [1.0]}}},
            "config key 'dataset.grids.lines': not a scenario with a grid of its own",
        ),
        ({"scenario": []}, "config key 'dataset.scenario'"),
    ],
)
def test_bad_scenario_keys_fail_with_one_line_naming_the_key(config, change, message):
    config["dataset"].update(change)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_variant_may_not_share_a_scenarios_name(config):
    config["variants"] = {"paper": {}, "boxes": {"training": {"label_smoothing": 0.1}}}
    with pytest.raises(ConfigError, match="config key 'variants.boxes': a variant may not share"):
        validate_config(config)


def test_net_keys_put_the_scenario_above_the_variant_and_leave_the_lines_paths_alone(scenario_config):
    assert net_key("lines", "paper") == "paper" and net_key("boxes", "paper") == "boxes/paper"
    assert split_net_key("boxes/label_smoothing") == ("boxes", "label_smoothing")
    assert split_net_key("paper") == ("lines", "paper")
    net = variant_config(scenario_config, "boxes/paper")
    assert (net["variant"], net["dataset"]["scenario"]) == ("paper", "boxes")
    assert variant_config(scenario_config, "paper")["dataset"]["scenario"] == "lines"
    assert net_identity(16, 1.0, 3, net) == dict(
        variant="paper", scenario="boxes", size=16, grid_step=1.0, seed=3, role="net"
    )
    assert parse_scenario_path("results/datasets/D16_step2.0.nc") == ("lines", 16, 2.0)
    assert parse_scenario_path("results/datasets/boxes/D16_step1.0.nc") == ("boxes", 16, 1.0)
    assert parse_scenario_path("results/summaries/boxes/paper/D16_step1.0/seed3.nc") == (
        "boxes",
        "paper",
        16,
        1.0,
        3,
    )
    assert parse_scenario_path("results/models/paper/D16_step2.0/seed0/summary.json")[:2] == (
        "lines",
        "paper",
    )


def test_a_scenario_dataset_file_is_checked_for_its_scenario_step_and_options(scenario_config, tmp_path):
    boxes = single_scenario_config(scenario_config, "boxes")
    path = tmp_path / "boxes.nc"
    make_dataset(16, 1.0, boxes, path)
    ds = open_dataset(path, 16, 1.0, boxes)
    assert (ds.attrs["scenario"], ds.attrs["grid_step"]) == ("boxes", 1.0)
    assert ds["boundary_distance"].attrs["units"] == "px"
    with pytest.raises(ResultFileError, match="grid step=0.5"):
        open_dataset(path, 16, 0.5, boxes)
    other = copy.deepcopy(boxes)
    other["dataset"]["grids"]["boxes"]["margin"] = 3.0
    with pytest.raises(ResultFileError, match="options.margin"):
        open_dataset(path, 16, 1.0, other)
    # A lines dataset is refused where the boxes' is expected, and the other way round.
    lines_path = tmp_path / "lines.nc"
    make_dataset(16, 4.0, single_scenario_config(scenario_config, "lines"), lines_path)
    with pytest.raises(ResultFileError):
        open_dataset(lines_path, 16, 4.0, boxes)
    with pytest.raises(ResultFileError):
        open_dataset(path, 16, 1.0, single_scenario_config(scenario_config, "lines"))


def test_the_lines_dataset_of_a_scenarios_study_is_the_default_studys(config, scenario_config):
    ours = study_dataset(16, 4.0, single_scenario_config(scenario_config, "lines"))
    paper = study_dataset(16, 4.0, config)
    assert np.array_equal(ours["images"].values, paper["images"].values)
    assert ours.attrs["onepixel_settings"] == paper.attrs["onepixel_settings"]


@pytest.fixture(scope="module")
def boxes_search():
    """An untrained CNN's every flip of the 16 x 16 boxes (many adversarial flips), and the dataset."""
    import onepixel

    ds = onepixel.make_dataset("boxes", 16, 1.0)
    chosen = np.flatnonzero(~ds["ambiguous"].values)
    arch = Architecture(16)
    params = init_params(arch, jax.random.PRNGKey(3))
    cube = flip_search(
        CNN(arch),
        params,
        ds["images"].values[chosen],
        ds["label"].values[chosen],
        lands_on=dataset_landing(ds, chosen),
        image_coords={"image": ds["image"].values[chosen]},
        progress=False,
    )
    return ds, cube


def test_the_scenario_summary_matches_plain_loops_over_the_cube(boxes_search):
    ds, cube = boxes_search
    summary = summarise_scenario_search(ds, cube)
    adversarial = cube["adversarial"].values
    assert adversarial.sum() > 50
    size = 16
    bins = int(np.ceil(size * np.sqrt(2))) + 1
    assert summary.sizes["object_distance"] == bins
    by_distance = np.zeros(bins, int)
    candidates = np.zeros(bins, int)
    for pos, image_id in enumerate(cube["image"].values):
        image = ds["images"].values[image_id]
        objects = np.argwhere(image == 1)
        for row in range(size):
            for col in range(size):
                gap = np.sqrt(((objects - [row, col]) ** 2).sum(axis=1)).min()
                bin_ = int(np.ceil(gap - 1e-9))
                if not cube["on_manifold"].values[pos, row, col]:
                    candidates[bin_] += 1
                if adversarial[pos, row, col]:
                    by_distance[bin_] += 1
    assert np.array_equal(summary["distance_adversarial"].values, by_distance)
    assert np.array_equal(summary["distance_candidates"].values, candidates)
    assert np.array_equal(summary["pixel_adversarial"].values, adversarial.sum(axis=0))
    # The nearest 10 %: every image at most as far from the boundary as the 10 % quantile.
    distance = ds["boundary_distance"].values[cube["image"].values]
    cut = np.sort(np.abs(distance))[int(np.floor(0.1 * (len(distance) - 1)))]
    near = np.abs(distance) <= cut + 1e-12
    assert np.array_equal(summary["near_boundary"].values, near)
    flips = cube["n_adversarial"].values
    assert summary.attrs["near_share"] == pytest.approx(flips[near].sum() / flips.sum())
    assert np.array_equal(summary["pixel_adversarial_near"].values, adversarial[near].sum(axis=0))


def test_object_distances_reach_across_the_image_and_an_empty_image_gets_the_last_bin():
    images = np.zeros((2, 16, 16), np.uint8)
    images[0, 0, 0] = 1
    distance = pixel_object_distance(images)
    assert distance[0, 0, 0] == 0 and distance[0, 15, 15] == int(np.ceil(15 * np.sqrt(2))) == 22
    assert distance[0, 0, 3] == 3 and distance[0, 1, 1] == 2  # sqrt(2) rounds up to 2
    assert (distance[1] == distance_bins(16) - 1).all() and distance_bins(16) == 24


def test_scenario_rows_and_claims_follow_the_summaries(boxes_search):
    ds, cube = boxes_search
    summaries, training = {}, {}
    for seed, size, rate in ((0, 16, 0.02), (1, 16, 0.04), (0, 32, 0.01)):
        summary = summarise_scenario_search(ds, cube)
        summary.attrs["adversarial_rate"] = rate
        summaries[("boxes", "paper", size, 1.0, seed)] = summary
        training[("boxes", "paper", size, 1.0, seed)] = {"reached_full_accuracy": seed == 0}
    datasets = {("boxes", 16, 1.0): ds, ("boxes", 32, 1.0): ds}
    rows = scenario_rows(datasets, summaries, training, {"boxes": "px"})
    assert [(r["size"], r["seeds"], r["seeds_below_accuracy_1"]) for r in rows] == [
        (16, 2, "1"),
        (32, 1, "none"),
    ]
    assert rows[0]["adversarial_rate_mean"] == pytest.approx(0.03)
    assert rows[0]["adversarial_rate_sd"] == pytest.approx(np.std([0.02, 0.04], ddof=1))
    counts = summaries[("boxes", "paper", 16, 1.0, 0)]["distance_adversarial"].values
    assert rows[1]["adversarial_within_1px_share"] == pytest.approx(counts[:2].sum() / counts.sum())
    claims = {c["claim"]: c for c in claim_rows(rows, summaries)}
    assert claims["size"]["value"] == pytest.approx(0.01 / 0.03) and claims["size"]["holds"] == "yes"
    assert claims["boundary"]["value"] == pytest.approx(
        summaries[("boxes", "paper", 32, 1.0, 0)].attrs["near_share"]
    )
    assert claims["distance"]["value"] == pytest.approx(1 - counts[:2].sum() / counts.sum())
    assert claims["distance"]["holds"] == ("yes" if claims["distance"]["value"] > 0.5 else "no")


def test_distance_histograms_of_different_sizes_add_up_bin_by_bin():
    small, large = np.array([1, 2, 3]), np.array([10, 20, 30, 40, 50])
    assert add_histograms([small, large]).tolist() == [11, 22, 33, 40, 50]
