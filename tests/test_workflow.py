"""The Snakemake workflow: planning on the paper grid, and the tiny study end to end."""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from onepixel.data.lines import read_dataset
from onepixel.search.cube import read_search
from onepixel.study.summary import read_summary
from onepixel.training.checkpoint import read_checkpoint
from tests.reference import make_summary

from .conftest import REPO, copy_workflow, snakemake


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def same_arrays(a, b) -> bool:
    """Two nested dicts of arrays (checkpoint states) hold the same keys and values."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_arrays(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    """A clean copy for dry runs (the tiny study's copy has results in it)."""
    return copy_workflow(tmp_path_factory.mktemp("plan"))


def test_default_config_plans_the_paper_study(plan_dir):
    run = snakemake(plan_dir, "-n", "--cores", "2")
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    assert counts["make_dataset"] == 15
    assert counts["train_model"] == 75
    assert counts["flip_search"] == 75  # each writes its net's cube and summary
    assert "summarise_search" not in counts
    assert counts["tables"] == 1 and counts["figures_from_summaries"] == 3
    # The lines alone: no scenario level, no scenario tables.
    assert "make_scenario_dataset" not in counts and "scenario_tables" not in counts
    assert "train_teacher" not in counts and "train_round" not in counts
    # One job per net runs its three attacks, one file each.
    assert counts["attack"] == 75 and counts["attack_tables"] == 1
    assert "results/attacks/paper/D80_step0.5/seed4/gradient.nc" in run.stdout


def test_paper_config_plans_the_paper_study_without_attacks(plan_dir):
    run = snakemake(plan_dir, "-n", "--cores", "2", "--configfile", "config/paper.yaml")
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    assert counts["train_model"] == counts["flip_search"] == 75
    assert counts["tables"] == 1 and counts["figures_from_summaries"] == 3
    assert "attack" not in counts and "attack_tables" not in counts


def test_defences_config_plans_every_variant(plan_dir):
    run = snakemake(plan_dir, "-n", "--cores", "2", "--configfile", "config/defences.yaml")
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    nets = 3 * 3 * 5  # D in {16, 32, 48}, 3 steps, 5 seeds
    # paper, label_smoothing, distillation, adversarial_training, wider, and deeper without D = 16.
    assert counts["train_model"] == counts["flip_search"] == 5 * nets + 2 * 3 * 5
    assert counts["train_teacher"] == nets
    assert counts["train_round"] == counts["search_round"] == 3 * nets
    assert "attack" not in counts
    skipped = "variant deeper: D=16 skipped (model: D=16 is too small for 3 conv blocks"
    assert skipped in run.stdout + run.stderr
    # `make defences` leaves the default study's tables and figures alone.
    assert "results/tables/defences/rates.csv" in run.stdout
    assert "results/figures/defences/paper/fig5_heatmaps.png" in run.stdout
    assert not re.search(r"results/(tables|figures)/(rates|variants_rate|fig2)", run.stdout)


def test_scenarios_config_plans_every_scenario_at_three_sizes(plan_dir):
    run = snakemake(plan_dir, "-n", "--cores", "2", "--configfile", "config/scenarios.yaml")
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    # 4 scenarios x D in {16, 32, 48} x one step x 5 seeds; the lines' datasets at the paper's paths.
    assert counts["make_dataset"] == 3 and counts["make_scenario_dataset"] == 9
    assert counts["train_model"] == counts["flip_search"] == 60
    assert counts["scenario_tables"] == 1 and counts["figures_from_summaries"] == 4 * 3
    assert "results/datasets/D48_step1.0.nc" in run.stdout
    assert "results/models/ellipses/paper/D48_step0.5/seed4/params.msgpack" in run.stdout
    assert "results/tables/scenarios/scenarios.csv" in run.stdout
    assert "results/figures/scenarios/blob_position/paper/fig4_likelihood.png" in run.stdout


def test_one_result_file_plans_only_what_it_needs(plan_dir):
    run = snakemake(plan_dir, "-n", "--cores", "2", "results/search/paper/D32_step1.0/seed3.nc")
    assert run.returncode == 0, run.stderr
    assert job_counts(run.stdout) == {
        "make_dataset": 1,
        "train_model": 1,
        "flip_search": 1,
        "total": 3,
    }


def test_bad_config_fails_before_any_job_with_one_line(plan_dir, tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["sizes"] = [16.0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    run = snakemake(plan_dir, "-n", "--cores", "1", "--configfile", str(bad))
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if "config key" in line]
    assert lines == [
        f"error: {bad}: config key 'sizes[0]': 16.0 is not of type 'integer'. Fix: use a whole number "
        "such as 10 (not 10.0 or a string)"
    ]
    assert "Traceback" not in run.stderr and "MissingInput" not in run.stderr


def read_search_like(path):
    with xr.open_dataset(path) as ds:
        return ds.load()


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_tiny_study_produces_every_table_and_figure(tiny_study):
    work, cfg = tiny_study
    tables = ("table1", "rates", "rates_per_seed", "training", "ambiguous", "on_manifold", "variants")
    for name in (*tables, "transfer", "ensembles", "universal", "predictors"):
        assert read_csv(work / "results" / "tables" / f"{name}.csv"), name
    per_variant = ("fig3_adversarial", "fig4_likelihood", "fig5_heatmaps", "fig6_redundancy")
    figures = [
        "fig2_examples",
        "variants_rate",
        "variants_heatmaps",
        "transfer",
        "universal_pixels",
        "predictors",
    ]
    figures += [f"{variant}/{name}" for variant in cfg["variants"] for name in per_variant]
    for fig in figures:
        png = (work / "results" / "figures" / f"{fig}.png").read_bytes()
        pdf = (work / "results" / "figures" / f"{fig}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
        assert b"onepixel" in png  # provenance in the PNG metadata
        assert pdf.startswith(b"%PDF")
    prov = json.loads((work / "results" / "tables" / "provenance.json").read_text())
    assert prov["onepixel_config"]["sizes"] == cfg["sizes"]
    # Every job wrote its log; heavy jobs their benchmark.
    assert (work / "logs" / "train" / "paper" / "D16_step2.0_seed0.log").read_text().count("epoch") > 0
    assert (work / "results" / "benchmarks" / "search" / "label_smoothing" / "D18_step4.0_seed1.tsv").exists()


@pytest.mark.slow
def test_the_search_jobs_summary_is_that_of_its_stored_cube(tiny_study, tmp_path):
    """The search job summarises its cube in memory; make_summary reads the stored files."""
    work, cfg = tiny_study
    for variant in cfg["variants"]:
        size, step, seed = cfg["sizes"][-1], cfg["angle_steps"][0], cfg["seeds"][-1]
        net = Path(variant) / f"D{size}_step{step}" / f"seed{seed}.nc"
        again, cube = tmp_path / f"{variant}.nc", work / "results" / "search" / net
        job_config = json.loads(read_search(cube).attrs["onepixel_config"])  # the job's (merged) config
        dataset = work / "results" / "datasets" / f"D{size}_step{step}.nc"
        make_summary(dataset, cube, (size, step, seed), job_config, again)
        in_job, from_files = read_summary(work / "results" / "summaries" / net), read_summary(again)
        xr.testing.assert_identical(in_job.drop_attrs(), from_files.drop_attrs())
        written = ("history", "onepixel_git_commit")  # when and from which checkout
        assert {k: v for k, v in in_job.attrs.items() if k not in written} == {
            k: v for k, v in from_files.attrs.items() if k not in written
        }
        assert int(in_job["pixel_adversarial"].values.sum()) == in_job.attrs["n_adversarial"] > 0


def test_the_attack_jobs_answers_from_the_cube_are_the_networks(tiny_study, tmp_path):
    """The attack stage answers the attacks' flips from the net's cube: the same results as asking the net."""
    from onepixel.study.attack_stage import run_attacks

    work, cfg = tiny_study
    size, step, seed = cfg["sizes"][-1], cfg["angle_steps"][0], cfg["seeds"][-1]
    net = Path("paper") / f"D{size}_step{step}"
    cube = work / "results" / "search" / net / f"seed{seed}.nc"
    config = json.loads(read_search(cube).attrs["onepixel_config"])
    config["attacks"].update(enabled=True, random_budget=100, gradient_budget=40, vulnerable_per_net=6)
    files = {}
    for answers in (True, False):
        config["attacks"]["answers_from_search"] = answers
        out = {method: tmp_path / f"{method}_{answers}.nc" for method in ("random", "gradient")}
        run_attacks(
            work / "results" / "datasets" / f"D{size}_step{step}.nc",
            cube,
            work / "results" / "models" / net / f"seed{seed}" / "params.msgpack",
            work / "results" / "models" / net / f"seed{seed}" / "summary.json",
            size,
            step,
            seed,
            config,
            out,
        )
        files[answers] = out
    for method in ("random", "gradient"):
        with xr.open_dataset(files[True][method]) as answered, xr.open_dataset(files[False][method]) as asked:
            assert answered.attrs["onepixel_settings"] != asked.attrs["onepixel_settings"]
            assert answered["found"].values.any()
            xr.testing.assert_identical(
                answered.drop_vars("seconds").drop_attrs(), asked.drop_vars("seconds").drop_attrs()
            )


@pytest.mark.slow
def test_tiny_study_contents_are_consistent(tiny_study):
    work, cfg = tiny_study
    rates = {
        (r["variant"], int(r["size"]), float(r["angle_step"]), int(r["seed"])): r
        for r in read_csv(work / "results" / "tables" / "rates_per_seed.csv")
    }
    training = {
        (r["variant"], int(r["size"]), float(r["angle_step"]), int(r["seed"])): r
        for r in read_csv(work / "results" / "tables" / "training.csv")
    }
    n_nets = len(cfg["sizes"]) * len(cfg["angle_steps"]) * len(cfg["seeds"])
    assert len(rates) == len(cfg["variants"]) * n_nets
    on_manifold = {}
    for (variant, size, step, seed), row in rates.items():
        ds = read_dataset(work / "results" / "datasets" / f"D{size}_step{step}.nc")
        net = Path(variant) / f"D{size}_step{step}" / f"seed{seed}.nc"
        cube = read_search(work / "results" / "search" / net)
        summary = read_summary(work / "results" / "summaries" / net)
        assert cube.attrs["variant"] == summary.attrs["variant"] == variant
        n_kept = int((~ds["ambiguous"].values).sum())
        assert cube["margin"].shape == (n_kept, size, size)
        assert cube.attrs["seed"] == seed and json.loads(cube.attrs["onepixel_config"])["sizes"]
        assert int(row["n_images"]) == n_kept
        assert int(row["n_candidates"]) == n_kept * size * size
        assert int(row["n_adversarial"]) == int(cube["adversarial"].values.sum())
        # Flips onto another valid image are never adversarial.
        assert not (cube["adversarial"].values & cube["on_manifold"].values).any()
        assert int(row["n_on_manifold_excluded"]) == int(
            (cube["misclassified"].values & cube["on_manifold"].values).sum()
        )
        on_manifold[(variant, size, step)] = int(cube["on_manifold"].values.sum())
        assert 0.0 <= float(row["adversarial_rate"]) <= 1.0
        assert int(summary["pixel_adversarial"].values.sum()) == int(row["n_adversarial"])
        # Per-angle counts cover every angle that generates a kept image.
        assert summary["angle_images"].values.sum() >= n_kept
        likelihood = summary["angle_likelihood"].values
        assert np.all((likelihood >= 0) & (likelihood <= 1))
        assert training[(variant, size, step, seed)]["reached_full_accuracy"] == row["reached_full_accuracy"]
    for row in read_csv(work / "results" / "tables" / "on_manifold.csv"):
        key = (row["variant"], int(row["size"]), float(row["angle_step"]))
        assert int(row["n_on_manifold_flips"]) == on_manifold[key]
    # variants.csv: the per-seed rates' mean, and the ratio of means to the paper's nets.
    for row in read_csv(work / "results" / "tables" / "variants.csv"):
        key = (row["variant"], int(row["size"]), float(row["angle_step"]))
        seeds = [float(r["adversarial_rate"]) for k, r in rates.items() if k[:3] == key]
        paper = [float(r["adversarial_rate"]) for k, r in rates.items() if k[:3] == ("paper", *key[1:])]
        assert float(row["rate_mean"]) == pytest.approx(np.mean(seeds))
        assert float(row["ratio_to_paper"]) == pytest.approx(np.mean(seeds) / np.mean(paper))
        if row["variant"] != "paper":
            low, high = float(row["ratio_ci95_low"]), float(row["ratio_ci95_high"])
            assert low <= float(row["ratio_to_paper"]) <= high
    table1 = read_csv(work / "results" / "tables" / "table1.csv")
    d16 = next(r for r in table1 if r["size"] == "16" and r["angle_step"] == "2.0")
    assert d16["paper_n_images"] == "170"
    assert int(d16["ours_n_images"]) == int(d16["paper_n_images"]) + int(d16["ours_diff"])


@pytest.mark.slow
def test_rebuilding_one_file_reproduces_it(tiny_study):
    work, _ = tiny_study
    target = work / "results" / "search" / "paper" / "D16_step4.0" / "seed1.nc"
    before = read_search(target)
    model_dir = work / "results" / "models" / "paper" / "D16_step4.0" / "seed1"
    params_before = (model_dir / "params.msgpack").read_bytes()
    # The target before the multi-valued options (after --forcerun it would
    # be read as a rule name, and the whole study forced).
    run = snakemake(
        work,
        str(target.relative_to(work)),
        "--cores",
        "2",
        "--configfile",
        "config/tiny.yaml",
        "--forcerun",
        "train_model",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    planned = job_counts(run.stderr)
    assert planned["train_model"] == planned["flip_search"] == 1 and "all" not in planned, planned
    assert (model_dir / "params.msgpack").read_bytes() == params_before
    after = read_search(target)
    np.testing.assert_array_equal(after["margin"].values, before["margin"].values)


@pytest.mark.slow
def test_report_has_every_figure_and_table_with_captions(tiny_study):
    work, _ = tiny_study
    run = snakemake(work, "--configfile", "config/tiny.yaml", "--report", "results/report.html")
    assert run.returncode == 0, run.stderr[-3000:]
    html = (work / "results" / "report.html").read_text()
    for name in (
        "fig2_examples",
        "fig3_adversarial",
        "fig4_likelihood",
        "fig5_heatmaps",
        "fig6_redundancy",
        "variants_rate",
        "variants_heatmaps",
    ):
        assert f"{name}.png" in html
    for name in ("table1", "rates", "rates_per_seed", "training", "ambiguous", "on_manifold", "variants"):
        assert f"{name}.csv" in html
    for name in ("transfer", "ensembles", "universal", "predictors"):
        assert f"{name}.csv" in html
    for name in ("transfer", "universal_pixels", "predictors"):
        assert f"{name}.png" in html
    # Captions from workflow/report/*.rst, the per-figure one rendered by wildcard.
    captions = (
        "Fig. 4.",
        "Fig. 5.",
        "Fig. 6.",
        "Table 1.",
        "Ambiguous images",
        "Training summary",
        "Variants.",
        "Exact transfer.",
        "Ensembles.",
        "Universal pixels.",
        "Predictors of vulnerability.",
    )
    for caption in (*captions, "Flips onto valid images"):
        assert caption in html


@pytest.mark.slow
def test_study_cost_sums_the_tiny_study_benchmark_files(tiny_study, capsys):
    from onepixel.study.__main__ import main

    work, cfg = tiny_study
    expected = 0.0
    for tsv in (work / "results" / "benchmarks" / "train").rglob("*.tsv"):
        expected += float(read_csv_tab(tsv)[0]["s"])
    assert main(["cost", str(work / "results")]) == 0
    printed = capsys.readouterr().out
    train_rows = [line.split("|") for line in printed.splitlines() if line.startswith("| train |")]
    assert train_rows, printed
    assert sum(int(row[4]) for row in train_rows) == len(
        list((work / "results" / "benchmarks" / "train").rglob("*.tsv"))
    )
    assert {row[2].strip() for row in train_rows} == set(cfg["variants"])
    assert abs(sum(float(row[5]) for row in train_rows) - expected) <= len(train_rows)
    assert "total job time" in printed


def assert_attack_table_is_that_of_the_attack_files_and_cubes(work, table_path):
    """Every recall of the attack table recounted from the per-image attack files; every hit from the cube."""
    results = work / "results"
    rows = {(r["attack"], r["variant"]): r for r in read_csv(table_path)}
    assert rows and {attack for attack, _ in rows} == {"de", "random", "gradient"}
    for (attack, variant), row in rows.items():
        hits, vulnerable, per_seed = [], [], []
        for path in sorted((results / "attacks" / variant).glob(f"D16_step4.0/seed*/{attack}.nc")):
            seed = int(path.parent.name[len("seed") :])
            with (
                xr.open_dataset(path) as result,
                xr.open_dataset(results / "search" / variant / "D16_step4.0" / f"seed{seed}.nc") as cube,
            ):
                position = {int(image): k for k, image in enumerate(cube["image"].values)}
                for i, image in enumerate(result["image"].values):
                    adversarial = cube["adversarial"].values[position[int(image)]]
                    assert int(result["n_vulnerable"].values[i]) == int(adversarial.sum())
                    found, r, c = (int(result[v].values[i]) for v in ("found", "row", "col"))
                    assert bool(result["hit"].values[i]) == bool(found and adversarial[r, c])
                hit, counts = result["hit"].values, result["n_vulnerable"].values
            hits.append(hit)
            vulnerable.append(counts)
            if (counts > 0).any():
                per_seed.append(hit[counts > 0].mean())
        hit, counts = np.concatenate(hits), np.concatenate(vulnerable)
        assert int(row["n_attacked"]) == hit.size and int(row["n_vulnerable"]) == int((counts > 0).sum())
        assert float(row["recall_mean"]) == pytest.approx(np.mean(per_seed))
        few = (counts >= 1) & (counts <= 2)
        if few.any():
            assert float(row["recall_1-2"]) == pytest.approx(hit[few].mean())
        assert int(row["false_successes_on_invulnerable"]) == int(hit[counts == 0].sum()) == 0


def read_csv_tab(path):
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.slow
def test_every_kind_of_variant_runs_end_to_end(tmp_path):
    work = copy_workflow(tmp_path / "defences")
    configs = ("--configfile", "config/tiny.yaml", "config/tiny_defences.yaml")
    run = snakemake(work, "--cores", "2", *configs)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "variant deeper: D=16 skipped" in run.stdout + run.stderr
    # Its tables and figures under its own name: a default study's would stay as they are.
    assert not (work / "results" / "tables" / "rates.csv").exists()
    tables = work / "results" / "tables" / "defences"
    assert_attack_table_is_that_of_the_attack_files_and_cubes(work, tables / "attack_recall.csv")
    rows = {r["variant"]: r for r in read_csv(tables / "variants.csv")}
    assert list(rows) == [
        "paper",
        "label_smoothing",
        "distillation",
        "adversarial_training",
        "deeper",
        "wider",
    ]
    assert rows["deeper"]["status"].startswith("skipped: model: D=16 is too small for 3 conv blocks")
    assert all(
        rows[v]["status"] == "ok" and rows[v]["seeds_below_accuracy_1"] == "none"
        for v in rows
        if v != "deeper"
    )
    assert not (work / "results" / "figures" / "defences" / "deeper").exists()
    training = {(r["variant"], r["role"], r["seed"]): r for r in read_csv(tables / "training.csv")}
    assert {"teacher", "net"} <= {role for v, role, _ in training if v == "distillation"}
    # Distillation's cost includes its teachers.
    teachers = [float(r["train_seconds"]) for (v, role, _), r in training.items() if role == "teacher"]
    nets = [
        float(r["train_seconds"])
        for (v, role, _), r in training.items()
        if (v, role) == ("distillation", "net")
    ]
    assert float(rows["distillation"]["total_train_seconds_per_net"]) == pytest.approx(
        (sum(teachers) + sum(nets)) / 2, abs=0.05
    )
    # Adversarial rounds: round r trains on round r - 1's flips (all but repeats and conflicts);
    # a round after a search that found none keeps its weights.
    rounds = read_csv(tables / "adversarial_rounds.csv")
    assert [(r["seed"], r["round"]) for r in rounds] == [(s, str(k)) for s in ("0", "1") for k in range(3)]
    for before, after in zip(rounds, rounds[1:], strict=False):
        if before["seed"] != after["seed"]:
            continue
        assert int(after["n_flips_added"]) <= int(before["n_adversarial"])
        if int(before["n_adversarial"]) == 0:
            assert after["stopped_no_flips_left"] == "True" and after["epochs"] == "0"
        role = f"round{after['round']}" if after["round"] != "2" else "net"
        net = training[("adversarial_training", role, after["seed"])]
        assert int(net["n_training_images"]) == int(net["n_images"]) + int(after["n_flips_added"])
    assert (
        work
        / "results"
        / "rounds"
        / "adversarial_training"
        / "D16_step4.0"
        / "seed0"
        / "round1"
        / "search.nc"
    ).exists()
    # Round 0 is the paper variant's net (the same training): its weights and cube, not trained again.
    for seed in (0, 1):
        round0 = work / f"results/rounds/adversarial_training/D16_step4.0/seed{seed}/round0"
        paper_params = work / f"results/models/paper/D16_step4.0/seed{seed}/params.msgpack"
        summary = json.loads((round0 / "summary.json").read_text())
        assert summary["same_net_as"] == str(paper_params.with_name("summary.json").relative_to(work))
        assert summary["role"] == "round0" and summary["variant"] == "adversarial_training"
        assert same_arrays(read_checkpoint(round0 / "params.msgpack")[1], read_checkpoint(paper_params)[1])
        cube = read_search(round0 / "search.nc")
        paper_cube = read_search(work / f"results/search/paper/D16_step4.0/seed{seed}.nc")
        assert cube.attrs["role"] == "round0" and cube.attrs["variant"] == "adversarial_training"
        for name in ("margin", "adversarial", "on_manifold"):
            np.testing.assert_array_equal(cube[name].values, paper_cube[name].values)
        log = work / f"logs/round/adversarial_training/D16_step4.0_seed{seed}_round0.log"
        assert "the net of variant paper (the same training)" in log.read_text()
    for name in (
        "variants_rate",
        "variants_heatmaps",
        "wider/fig5_heatmaps",
        "distillation/fig3_adversarial",
    ):
        assert (work / "results" / "figures" / "defences" / f"{name}.png").read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def tiny_scenarios(tmp_path_factory):
    """config/tiny_scenarios.yaml (the lines and the boxes) run with `snakemake --cores 2`."""
    work = copy_workflow(tmp_path_factory.mktemp("scenarios"))
    run = snakemake(work, "--cores", "2", "--configfile", "config/tiny_scenarios.yaml")
    assert run.returncode == 0, run.stderr[-5000:]
    return work


@pytest.mark.slow
def test_tiny_scenarios_study_runs_every_stage_per_scenario(tiny_scenarios):
    from onepixel.study.config import load_config_file, validate_config
    from onepixel.study.inputs import load_model
    from onepixel.study.variants import variant_config

    work = tiny_scenarios
    # The lines at the paper's paths; the boxes one level down.
    assert (work / "results/datasets/D16_step4.0.nc").exists()
    assert (work / "results/models/paper/D16_step4.0/seed0/params.msgpack").exists()
    boxes_cube = read_search(work / "results/search/boxes/paper/D16_step1.0/seed0.nc")
    lines_cube = read_search(work / "results/search/paper/D16_step4.0/seed0.nc")
    assert boxes_cube.attrs["scenario"] == "boxes" and "scenario" not in lines_cube.attrs
    table = read_csv(work / "results/tables/tiny_scenarios/scenarios.csv")
    rows = {(r["scenario"], r["size"]): r for r in table}
    assert set(rows) == {(s, d) for s in ("lines", "boxes") for d in ("16", "18")}
    for name, cube in (("boxes", boxes_cube), ("lines", lines_cube)):
        assert float(rows[(name, "16")]["adversarial_rate_mean"]) == pytest.approx(
            cube.attrs["adversarial_rate"]
        )
    assert rows[("boxes", "16")]["step_units"] == "px" and rows[("lines", "16")]["step_units"] == "degree"
    claims = read_csv(work / "results/tables/tiny_scenarios/scenario_claims.csv")
    assert sorted((c["scenario"], c["claim"]) for c in claims) == sorted(
        (s, c) for s in ("lines", "boxes") for c in ("boundary", "size", "distance")
    )
    size_claim = next(c for c in claims if (c["scenario"], c["claim"]) == ("boxes", "size"))
    rate = {d: float(rows[("boxes", d)]["adversarial_rate_mean"]) for d in ("16", "18")}
    assert float(size_claim["value"]) == pytest.approx(rate["18"] / rate["16"])
    for fig in ("fig3_adversarial", "fig4_likelihood", "fig5_heatmaps", "fig6_redundancy"):
        for folder in ("boxes/paper", "paper"):
            png = (work / "results/figures/tiny_scenarios" / folder / f"{fig}.png").read_bytes()
            assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert (work / "results/tables/tiny_scenarios/table1.csv").exists()
    # The boxes' adversarial flips, re-classified by a plain forward pass of the stored net.
    config = validate_config(load_config_file(work / "config/tiny_scenarios.yaml"))
    net = variant_config(config, "boxes/paper")
    model_dir = work / "results/models/boxes/paper/D16_step1.0/seed0"
    arch, params, _ = load_model(model_dir / "summary.json", model_dir / "params.msgpack", 16, 1.0, 0, net)
    dataset = read_search_like(work / "results/datasets/boxes/D16_step1.0.nc")
    from onepixel.models.inference import make_margin_fn

    margin_fn = make_margin_fn(arch)
    positions, rows_, cols = np.nonzero(boxes_cube["adversarial"].values)
    assert positions.size > 0
    for pos, row, col in list(zip(positions, rows_, cols, strict=True))[:20]:
        image = dataset["images"].values[int(boxes_cube["image"].values[pos])].astype(np.float32)
        image[row, col] = 1 - image[row, col]
        margin = float(np.asarray(margin_fn(params, image[None]))[0])
        assert (margin > 0) != bool(boxes_cube["label"].values[pos])


@pytest.mark.slow
def test_a_scenario_option_change_reruns_that_scenario_alone(tiny_scenarios, tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "tiny_scenarios.yaml").read_text())
    cfg["dataset"]["grids"]["boxes"]["margin"] = 3.0
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    run = snakemake(tiny_scenarios, "-n", "--cores", "2", "--configfile", str(changed))
    assert run.returncode == 0, run.stderr
    counts = job_counts(run.stdout)
    assert counts["make_scenario_dataset"] == counts["train_model"] == counts["flip_search"] == 2
    assert "make_dataset" not in counts and "tables" not in counts
    assert "results/models/boxes/paper/D16_step1.0/seed0/params.msgpack" in run.stdout


@pytest.mark.slow
def test_cross_network_tables_agree_with_the_cubes(tiny_study):
    from onepixel.analysis.networks import transfer

    work, cfg = tiny_study
    cube = {
        seed: read_search(work / "results/search/paper/D16_step2.0" / f"seed{seed}.nc")
        for seed in cfg["seeds"]
    }
    share, jaccard, *_ = transfer(cube[0]["adversarial"].values, cube[1]["adversarial"].values)
    share_back = transfer(cube[1]["adversarial"].values, cube[0]["adversarial"].values)[0]
    rows = read_csv(work / "results/tables/transfer.csv")
    within = next(
        r for r in rows if (r["variant"], r["kind"], r["size"], r["step"]) == ("paper", "within", "16", "2.0")
    )
    assert int(within["pairs"]) == 2
    assert float(within["share_mean"]) == pytest.approx((share + share_back) / 2)
    assert float(within["jaccard_mean"]) == pytest.approx(jaccard)
    across = [r for r in rows if r["kind"] == "across"]
    assert {(r["variant"], r["other"]) for r in across} == {("label_smoothing", "paper")}
    ensembles = read_csv(work / "results/tables/ensembles.csv")
    mine = next(r for r in ensembles if (r["variant"], r["size"], r["step"]) == ("paper", "16", "2.0"))
    rates = [c.attrs["adversarial_rate"] for c in cube.values()]
    assert float(mine["members_rate_mean"]) == pytest.approx(np.mean(rates))
    assert int(mine["checked_by_forward_pass"]) > 0
    universal = read_csv(work / "results/tables/universal.csv")
    best = next(
        r
        for r in universal
        if (r["variant"], r["size"], r["step"], r["seed"], r["class"]) == ("paper", "16", "2.0", "0", "1")
    )
    positives = cube[0]["adversarial"].values[cube[0]["label"].values == 1]
    assert int(best["best_images_fooled"]) == int(positives.sum(axis=0).max())
    predictor_rows = read_csv(work / "results/tables/predictors.csv")
    predictors = {r["predictor"] for r in predictor_rows}
    assert {"clean_margin", "boundary_distance", "set_pixels", "length", "flip_object_distance"} <= predictors
    flips = next(r for r in predictor_rows if r["predictor"] == "flip_object_distance")
    assert all(0 <= float(flips[f"rate_q{q}"]) <= 1 for q in (1, 2, 3, 4))
