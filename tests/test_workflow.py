"""The Snakemake workflow: planning on the paper grid, and the tiny study end to end."""

import csv
import json
import re

import numpy as np
import pytest
import yaml

from onepixel.analysis import read_summary
from onepixel.dataset import read_dataset
from onepixel.search import read_search

from .conftest import REPO, copy_workflow, snakemake


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


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
    assert counts["flip_search"] == 75
    assert counts["summarise_search"] == 75
    assert counts["tables"] == 1 and counts["figures_from_summaries"] == 3


def test_one_result_file_plans_only_what_it_needs(plan_dir):
    run = snakemake(plan_dir, "-n", "--cores", "2", "results/search/D32_step1.0/seed3.nc")
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


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_tiny_study_produces_every_table_and_figure(tiny_study):
    work, cfg = tiny_study
    for name in ("table1", "rates", "rates_per_seed", "training", "ambiguous", "on_manifold"):
        assert read_csv(work / "results" / "tables" / f"{name}.csv"), name
    for fig in ("fig2_examples", "fig3_adversarial", "fig4_likelihood", "fig5_heatmaps", "fig6_redundancy"):
        png = (work / "results" / "figures" / f"{fig}.png").read_bytes()
        pdf = (work / "results" / "figures" / f"{fig}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
        assert b"onepixel" in png  # provenance in the PNG metadata
        assert pdf.startswith(b"%PDF")
    prov = json.loads((work / "results" / "tables" / "provenance.json").read_text())
    assert prov["onepixel_config"]["sizes"] == cfg["sizes"]
    # Every job wrote its log; heavy jobs their benchmark.
    assert (work / "logs" / "train" / "D16_step2.0_seed0.log").read_text().count("epoch") > 0
    assert (work / "results" / "benchmarks" / "search" / "D18_step4.0_seed1.tsv").exists()


@pytest.mark.slow
def test_tiny_study_contents_are_consistent(tiny_study):
    work, cfg = tiny_study
    rates = {
        (int(r["size"]), float(r["angle_step"]), int(r["seed"])): r
        for r in read_csv(work / "results" / "tables" / "rates_per_seed.csv")
    }
    training = {
        (int(r["size"]), float(r["angle_step"]), int(r["seed"])): r
        for r in read_csv(work / "results" / "tables" / "training.csv")
    }
    assert len(rates) == len(cfg["sizes"]) * len(cfg["angle_steps"]) * len(cfg["seeds"])
    on_manifold = {}
    for (size, step, seed), row in rates.items():
        ds = read_dataset(work / "results" / "datasets" / f"D{size}_step{step}.nc")
        cube = read_search(work / "results" / "search" / f"D{size}_step{step}" / f"seed{seed}.nc")
        summary = read_summary(work / "results" / "summaries" / f"D{size}_step{step}" / f"seed{seed}.nc")
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
        on_manifold[(size, step)] = int(cube["on_manifold"].values.sum())
        assert 0.0 <= float(row["adversarial_rate"]) <= 1.0
        assert int(summary["pixel_adversarial"].values.sum()) == int(row["n_adversarial"])
        # Per-angle counts cover every angle that generates a kept image.
        assert summary["angle_images"].values.sum() >= n_kept
        likelihood = summary["angle_likelihood"].values
        assert np.all((likelihood >= 0) & (likelihood <= 1))
        assert training[(size, step, seed)]["reached_full_accuracy"] == row["reached_full_accuracy"]
    for row in read_csv(work / "results" / "tables" / "on_manifold.csv"):
        assert int(row["n_on_manifold_flips"]) == on_manifold[(int(row["size"]), float(row["angle_step"]))]
    table1 = read_csv(work / "results" / "tables" / "table1.csv")
    d16 = next(r for r in table1 if r["size"] == "16" and r["angle_step"] == "2.0")
    assert d16["paper_n_images"] == "170"
    assert int(d16["ours_n_images"]) == int(d16["paper_n_images"]) + int(d16["ours_diff"])


@pytest.mark.slow
def test_rebuilding_one_file_reproduces_it(tiny_study):
    work, _ = tiny_study
    target = work / "results" / "search" / "D16_step4.0" / "seed1.nc"
    before = read_search(target)
    model_dir = work / "results" / "models" / "D16_step4.0" / "seed1"
    params_before = (model_dir / "params.msgpack").read_bytes()
    run = snakemake(
        work,
        "--cores",
        "2",
        "--configfile",
        "config/tiny.yaml",
        "--forcerun",
        "train_model",
        str(target.relative_to(work)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (model_dir / "params.msgpack").read_bytes() == params_before
    after = read_search(target)
    np.testing.assert_array_equal(after["margin"].values, before["margin"].values)


@pytest.mark.slow
def test_report_has_every_figure_and_table_with_captions(tiny_study):
    work, _ = tiny_study
    run = snakemake(work, "--configfile", "config/tiny.yaml", "--report", "results/report.html")
    assert run.returncode == 0, run.stderr[-3000:]
    html = (work / "results" / "report.html").read_text()
    for name in ("fig2_examples", "fig3_adversarial", "fig4_likelihood", "fig5_heatmaps", "fig6_redundancy"):
        assert f"{name}.png" in html
    for name in ("table1", "rates", "rates_per_seed", "training", "ambiguous", "on_manifold"):
        assert f"{name}.csv" in html
    # Captions from workflow/report/*.rst, the per-figure one rendered by wildcard.
    captions = ("Fig. 4.", "Fig. 5.", "Fig. 6.", "Table 1.", "Ambiguous images", "Training summary")
    for caption in (*captions, "Flips onto valid images"):
        assert caption in html


@pytest.mark.slow
def test_study_cost_sums_the_tiny_study_benchmark_files(tiny_study, capsys):
    from .bench import benchmark_main as main

    work, _ = tiny_study
    expected = 0.0
    for tsv in (work / "results" / "benchmarks" / "train").glob("*.tsv"):
        expected += float(read_csv_tab(tsv)[0]["s"])
    main(["cost", "--root", str(work)])
    printed = capsys.readouterr().out
    train_rows = [line.split("|") for line in printed.splitlines() if line.startswith("| train |")]
    assert train_rows, printed
    assert sum(int(row[3]) for row in train_rows) == len(
        list((work / "results" / "benchmarks" / "train").glob("*.tsv"))
    )
    assert abs(sum(float(row[4]) for row in train_rows) - expected) <= len(train_rows)
    assert "total job time" in printed


def read_csv_tab(path):
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))
