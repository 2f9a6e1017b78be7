"""No silent wrong number: foreign files stop with one line, config changes rerun what they
change, and a run killed with SIGKILL reruns to the same results with no stray temp files."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from onepixel.search.cube import read_search

from .conftest import REPO, copy_workflow, snakemake

TINY = ("--cores", "1", "--configfile", "config/tiny.yaml")

pytestmark = pytest.mark.slow


def job_counts(output: str) -> dict[str, int]:
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1]
    return {
        m[1]: int(m[2])
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
        if m[1] not in ("total", "all")
    }


@pytest.fixture
def study_copy(tiny_study, tmp_path):
    """A copy of the finished tiny study (results, logs and Snakemake's metadata, mtimes kept)."""
    work, _ = tiny_study
    copy = tmp_path / "study"
    shutil.copytree(work, copy, symlinks=True)
    return copy


def keep_age(path, change):
    """Change a file in place with its mtime kept, so Snakemake reruns nothing upstream of it."""
    age = path.stat()
    change()
    os.utime(path, ns=(age.st_atime_ns, age.st_mtime_ns))


def last_log_line(path) -> str:
    return path.read_text().strip().splitlines()[-1]


def results(work, relative):
    return work / "results" / relative


# Each case: what to break, the target and the rule to force, the job log that must
# end with the message, and what the message must say.
FOREIGN_FILES = {
    "checkpoint of another step and seed": (
        "models/paper/D16_step4.0/seed1/params.msgpack",
        "models/paper/D16_step2.0/seed0/params.msgpack",
        ("results/search/paper/D16_step2.0/seed0.nc", "flip_search"),
        "logs/search/paper/D16_step2.0_seed0.log",
        r"params\.msgpack: holds the checkpoint of variant=paper, D=16, step=4\.0, seed=1, role=net, "
        r"but this path expects variant=paper, D=16, step=2\.0, seed=0, role=net",
    ),
    "training summary of another seed": (
        "models/paper/D16_step2.0/seed1/summary.json",
        "models/paper/D16_step2.0/seed0/summary.json",
        ("results/tables/rates.csv", "tables"),
        "logs/aggregate/tables.log",
        r"summary\.json: holds the training summary of variant=paper, D=16, step=2\.0, seed=1",
    ),
    "cube of another seed": (
        "search/paper/D16_step2.0/seed1.nc",
        "search/paper/D16_step2.0/seed0.nc",
        ("results/figures/paper/fig3_adversarial.png", "figure3_adversarial"),
        "logs/aggregate/paper/fig3.log",
        r"seed0\.nc: holds the flip cube of variant=paper, D=16, step=2\.0, seed=1",
    ),
    "cube of another size": (
        "search/paper/D18_step2.0/seed0.nc",
        "search/paper/D16_step2.0/seed0.nc",
        ("results/figures/paper/fig3_adversarial.png", "figure3_adversarial"),
        "logs/aggregate/paper/fig3.log",
        r"holds the flip cube of variant=paper, D=18, step=2\.0, seed=0, role=net, but this path expects "
        r"variant=paper, D=16",
    ),
    "cube of another variant": (
        "search/label_smoothing/D16_step2.0/seed0.nc",
        "search/paper/D16_step2.0/seed0.nc",
        ("results/figures/paper/fig3_adversarial.png", "figure3_adversarial"),
        "logs/aggregate/paper/fig3.log",
        r"holds the flip cube of variant=label_smoothing, D=16, step=2\.0, seed=0, role=net, but this path "
        r"expects variant=paper",
    ),
    "search summary of another seed": (
        "summaries/paper/D16_step2.0/seed1.nc",
        "summaries/paper/D16_step2.0/seed0.nc",
        ("results/tables/rates.csv", "tables"),
        "logs/aggregate/tables.log",
        r"holds the search summary of variant=paper, D=16, step=2\.0, seed=1",
    ),
    "dataset of another size": (
        "datasets/D18_step4.0.nc",
        "datasets/D16_step4.0.nc",
        ("results/search/paper/D16_step4.0/seed0.nc", "flip_search"),
        "logs/search/paper/D16_step4.0_seed0.log",
        r"D16_step4\.0\.nc: holds the dataset of D=18, step=4\.0, but this path expects D=16, step=4\.0",
    ),
}


@pytest.mark.parametrize("case", sorted(FOREIGN_FILES))
def test_a_foreign_result_file_stops_its_consumer_with_one_line(study_copy, case):
    source, target, (goal, rule), log, message = FOREIGN_FILES[case]
    keep_age(
        results(study_copy, target),
        lambda: shutil.copy(results(study_copy, source), results(study_copy, target)),
    )
    run = snakemake(study_copy, goal, *TINY, "--forcerun", rule)
    assert run.returncode != 0
    line = last_log_line(study_copy / log)
    assert re.search(message, line), line
    assert f"fix: `rm results/{target}` and rerun your snakemake command" in line
    assert "Traceback" in (study_copy / log).read_text()  # the traceback stays above the line
    assert re.search(message, run.stderr)


def test_the_fix_of_a_foreign_file_works(study_copy):
    """Following the message (rm the file, rerun) rebuilds it and its consumers."""
    target = results(study_copy, "search/paper/D16_step2.0/seed0.nc")
    expected = read_search(target)["margin"].values
    shutil.copy(results(study_copy, "search/paper/D16_step2.0/seed1.nc"), target)
    goal = ("results/figures/paper/fig3_adversarial.png",)  # Fig. 3 reads that cube
    assert snakemake(study_copy, *goal, *TINY, "--forcerun", "figure3_adversarial").returncode != 0
    target.unlink()
    again = snakemake(study_copy, *goal, *TINY)
    assert again.returncode == 0, again.stderr[-3000:]
    np.testing.assert_array_equal(read_search(target)["margin"].values, expected)


def test_a_training_summary_without_a_key_stops_with_one_line(study_copy):
    path = results(study_copy, "models/paper/D16_step2.0/seed0/summary.json")
    text = re.sub(r'\s*"reached_full_accuracy": (true|false),', "", path.read_text())
    keep_age(path, lambda: path.write_text(text))
    run = snakemake(study_copy, "results/tables/rates.csv", *TINY, "--forcerun", "tables")
    assert run.returncode != 0
    line = last_log_line(study_copy / "logs/aggregate/tables.log")
    assert "summary.json: training summary lacks keys ['reached_full_accuracy']" in line
    assert "fix: `rm results/models/paper/D16_step2.0/seed0/summary.json`" in line


def test_a_corrupt_checkpoint_names_a_fix_that_works(study_copy):
    path = results(study_copy, "models/paper/D16_step4.0/seed0/params.msgpack")
    keep_age(path, lambda: path.write_bytes(b"\x00 not msgpack"))
    goal = "results/search/paper/D16_step4.0/seed0.nc"
    run = snakemake(study_copy, goal, *TINY, "--forcerun", "flip_search")
    assert run.returncode != 0
    line = last_log_line(study_copy / "logs/search/paper/D16_step4.0_seed0.log")
    assert "params.msgpack: not a readable checkpoint" in line
    assert "fix: `rm results/models/paper/D16_step4.0/seed0/params.msgpack` and rerun" in line
    path.unlink()
    again = snakemake(study_copy, goal, *TINY)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "train_model" in again.stdout + again.stderr


def planned(work, config: dict, tmp_path) -> dict[str, int]:
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    run = snakemake(work, "-n", "--cores", "1", "--configfile", str(edited))
    assert run.returncode == 0, run.stderr[-3000:]
    return job_counts(run.stdout)


# The tiny config: 2 variants x 8 nets; Fig. 3-6 per variant, the two variant figures;
# the cross-network analysis of each (D, step) (both variants' nets) and its tables.
DOWNSTREAM_OF_TRAINING = {
    "train_model": 16,
    "flip_search": 16,
    "tables": 1,
    "figure3_adversarial": 2,
    "figures_from_summaries": 6,
    "figures_of_variants": 2,
    "analyse_networks": 4,
    "network_tables": 1,
}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c["training"].update(learning_rate=0.01), DOWNSTREAM_OF_TRAINING),
        (lambda c: c["model"].update(dense_units=64), DOWNSTREAM_OF_TRAINING),
        (
            lambda c: c["dataset"].update(positive_range_deg=[0.0, 60.0]),
            {"make_dataset": 4, "figure2_examples": 1, **DOWNSTREAM_OF_TRAINING},
        ),
        (lambda c: c["analysis"].update(window_deg=5.0), {"figures_from_summaries": 2}),
        (lambda c: c["analysis"].update(universal_share=0.2), {"network_tables": 1}),
        # One variant's override reruns that variant's nets only.
        (
            lambda c: c["variants"]["label_smoothing"]["training"].update(label_smoothing=0.2),
            {
                **{k: v // 2 for k, v in DOWNSTREAM_OF_TRAINING.items()},
                "tables": 1,
                "figures_of_variants": 2,
                "analyse_networks": 4,
                "network_tables": 1,
            },
        ),
        (
            lambda c: c["search"].update(recheck_below=1e-3),
            {k: v for k, v in DOWNSTREAM_OF_TRAINING.items() if k != "train_model"},
        ),
        (lambda c: None, {}),
    ],
    ids=[
        "learning_rate",
        "dense_units",
        "positive_range",
        "window_deg",
        "universal_share",
        "one_variant",
        "recheck_below",
        "unchanged",
    ],
)
def test_a_config_change_reruns_exactly_what_it_changes(tiny_study, tmp_path, edit, expected):
    work, _ = tiny_study
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    edit(cfg)
    assert planned(work, cfg, tmp_path) == expected


def wait_for(path, text, process, timeout=300):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if path.exists() and text in path.read_text():
            return
        assert process.poll() is None, "snakemake ended before the moment to kill it"
        time.sleep(0.05)
    raise AssertionError(f"{path} never said {text!r}")


def kill_run_at(work, goal, log, text):
    """Start snakemake for ``goal`` and SIGKILL its whole process group once ``log`` says ``text``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", goal, *TINY],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(work / log, text, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert snakemake(work, "--unlock", *TINY).returncode == 0


def test_kill_9_during_training_and_search_reruns_to_identical_results(tiny_study, tmp_path):
    reference, _ = tiny_study
    work = copy_workflow(tmp_path / "killed")
    goal = "results/search/paper/D18_step2.0/seed1.nc"
    kill_run_at(work, goal, "logs/train/paper/D18_step2.0_seed1.log", "training D=18")
    assert not (work / "results/models/paper/D18_step2.0/seed1/params.msgpack").exists()
    kill_run_at(work, goal, "logs/search/paper/D18_step2.0_seed1.log", "searching")
    assert not (work / goal).exists()
    # What a writer killed mid-write leaves: the next run of its rule removes it.
    stale = work / "results/search/paper/D18_step2.0/.seed1.nc.k1ll3d.tmp"
    stale.write_bytes(b"half a cube")
    run = snakemake(work, goal, *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not stale.exists()
    assert not list((work / "results").rglob("*.tmp"))
    model = "results/models/paper/D18_step2.0/seed1/params.msgpack"
    assert (work / model).read_bytes() == (reference / model).read_bytes()
    ours, theirs = read_search(work / goal), read_search(reference / goal)
    for name in ("margin", "adversarial", "on_manifold", "base_margin"):
        np.testing.assert_array_equal(ours[name].values, theirs[name].values)
    assert "removed" in (work / "logs/search/paper/D18_step2.0_seed1.log").read_text()
