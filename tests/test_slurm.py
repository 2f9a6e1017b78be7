"""The tiny study through `snakemake --profile` on a real single-node SLURM.

tests/slurm/local_slurm.sh brings up munge, MariaDB, slurmdbd, slurmctld and
slurmd (one node with a fake GPU), and this test runs the tiny config through
a copy of profiles/slurm pointed at that cluster. It needs root and apt-get
(CI has both); elsewhere it is skipped with the reason printed.
"""

import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
import yaml

from onepixel.search.cube import read_search
from onepixel.training.checkpoint import read_checkpoint

from .conftest import REPO, copy_workflow, snakemake

SCRIPT = REPO / "tests" / "slurm" / "local_slurm.sh"
GPU_RULES = {"train_model", "flip_search"}
# Rules of the defence variants that also run on a GPU.
VARIANT_GPU_RULES = {"train_teacher", "train_round", "search_round"}

pytestmark = pytest.mark.slow


def slurm_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start SLURM daemons"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is not available to install it"
    return None


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory):
    reason = slurm_unavailable()
    if reason:
        print(f"SKIPPED SLURM test: {reason}")
        pytest.skip(reason)
    if shutil.which("slurmctld") is None or shutil.which("slurmdbd") is None:
        subprocess.run([str(SCRIPT), "install"], check=True, timeout=600)
    state = tmp_path_factory.mktemp("slurm")
    # Jobs inherit this environment (sbatch --export=ALL): the same Python first on PATH.
    path = f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf"), "PATH": path}
    try:
        start = subprocess.run(
            [str(SCRIPT), "start", str(state)], env=env, capture_output=True, text=True, timeout=300
        )
        assert start.returncode == 0, start.stdout + start.stderr
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop", str(state)], timeout=120)


def local_profile(work):
    """profiles/slurm with this cluster's partition and account and quick polling."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="onepixel", slurm_account="onepixel")
    profile.update(
        {
            "jobs": 4,
            "latency-wait": 5,
            "retries": 0,
            "slurm-init-seconds-before-status-checks": 2,
            "seconds-between-status-checks": 2,
        }
    )
    directory = work / "profile-local"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


def test_tiny_study_through_slurm_equals_local_run(local_slurm, tiny_study, tmp_path):
    local_work, cfg = tiny_study
    work = copy_workflow(tmp_path / "slurm-study")
    profile = local_profile(work)
    # One (D, step) of the paper's variant, two seeds (a cross-network job too): its nets
    # must equal the local run's. Every rule kind still goes through sbatch.
    cfg = {**cfg, "variants": {"paper": {}}, "sizes": [16], "angle_steps": [4.0]}
    (work / "config" / "tiny_paper.yaml").write_text(yaml.safe_dump(cfg))
    # The SLURM plugin can hang if status queries fail: bound the run hard.
    run = subprocess.run(
        ["timeout", "-k", "20", "900", sys.executable, "-m", "snakemake", "--profile", str(profile),
         "--configfile", "config/tiny_paper.yaml"],
        cwd=work, capture_output=True, text=True, env=local_slurm,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]

    # Every non-local job went through sbatch: its SLURM job id is in the log.
    submitted = dict(
        re.findall(r"submitted with SLURM jobid (\d+) \(log: [^)]*/slurm_logs/rule_(\w+)/", output)
    )
    # Per (D, step) a dataset and the cross-network analysis of its nets; per net a training and
    # a search (which writes the summary too).
    n_jobs = len(cfg["sizes"]) * len(cfg["angle_steps"]) * (2 + 2 * len(cfg["seeds"]))
    assert len(submitted) == n_jobs, output[-4000:]
    print(
        "sbatch submissions:", len(submitted), "e.g.", sorted(submitted.items(), key=lambda x: int(x[0]))[:3]
    )
    # ... and SLURM's accounting has a COMPLETED record for each, GPU rules with a GPU.
    sacct = subprocess.run(
        ["sacct", "-X", "-n", "--parsable2", "-j", ",".join(submitted),
         "--format=JobID,State,AllocTRES%200,Comment%200"],
        capture_output=True, text=True, env=local_slurm, check=True,
    ).stdout  # fmt: skip
    print("sacct records:\n" + sacct)
    records = {line.split("|")[0]: line.split("|") for line in sacct.strip().splitlines()}
    assert set(records) == set(submitted), sacct
    gpu_jobs = 0
    for job_id, state, tres, _comment in records.values():
        rule = submitted[job_id]
        assert state == "COMPLETED", (job_id, rule, state)
        if rule in GPU_RULES:
            assert "gres/gpu=1" in tres, (job_id, rule, tres)
            gpu_jobs += 1
        else:
            assert "gres/gpu" not in tres, (job_id, rule, tres)
    assert gpu_jobs == 2 * len(cfg["sizes"]) * len(cfg["angle_steps"]) * len(cfg["seeds"])
    # GPU jobs saw the (fake) GPU SLURM granted them; CPU jobs none.
    assert (
        "CUDA_VISIBLE_DEVICES=0" in (work / "logs" / "train" / "paper" / "D16_step4.0_seed0.log").read_text()
    )
    assert (
        "CUDA_VISIBLE_DEVICES=0" in (work / "logs" / "search" / "paper" / "D16_step4.0_seed1.log").read_text()
    )
    assert "CUDA_VISIBLE_DEVICES" not in (work / "logs" / "dataset" / "D16_step4.0.log").read_text()
    # Aggregation ran on the submit host (localrules), and produced the same results.
    assert "tables" not in submitted.values()
    for size in cfg["sizes"]:
        for step in cfg["angle_steps"]:
            for seed in cfg["seeds"]:
                model = f"results/models/paper/D{size}_step{float(step)}/seed{seed}/params.msgpack"
                # The weights bit for bit; the provenance beside them differs (accelerator=cuda).
                (meta_a, weights_a), (meta_b, weights_b) = (
                    read_checkpoint(root / model) for root in (work, local_work)
                )
                assert meta_a["onepixel_settings"] == meta_b["onepixel_settings"], model
                for leaf_a, leaf_b in zip(
                    jax.tree_util.tree_leaves(weights_a), jax.tree_util.tree_leaves(weights_b), strict=True
                ):
                    assert leaf_a.tobytes() == leaf_b.tobytes(), model
                cube = f"results/search/paper/D{size}_step{float(step)}/seed{seed}.nc"
                a, b = read_search(work / cube), read_search(local_work / cube)
                np.testing.assert_array_equal(a["margin"].values, b["margin"].values)
                np.testing.assert_array_equal(a["adversarial"].values, b["adversarial"].values)
    # The tables' rows are the local run's rows of this (D, step).
    table1 = (local_work / "results/tables/table1.csv").read_text().splitlines()
    assert (work / "results/tables/table1.csv").read_text().splitlines() == [
        table1[0],
        *[line for line in table1[1:] if line.startswith("16,4.0,")],
    ]
    paper_rows = [line for line in (local_work / "results/tables/rates.csv").read_text().splitlines()[1:]]
    paper_rows = [line for line in paper_rows if line.startswith("paper,16,4.0,")]
    assert (work / "results/tables/rates.csv").read_text().splitlines()[1:] == paper_rows
    # Each job logged the JAX device it used.
    assert "JAX" in (work / "logs" / "search" / "paper" / "D16_step4.0_seed0.log").read_text()


def test_profile_marks_gpu_rules_and_site_lines():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb", "cpus_per_task"} <= set(
        profile["default-resources"]
    )
    for rule in GPU_RULES | VARIANT_GPU_RULES:
        assert profile["set-resources"][rule]["gpu"] == 1
    # The lint-level check that the profile parses for snakemake itself.
    run = snakemake(REPO, "-n", "--profile", "profiles/slurm", "--configfile", "config/tiny.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
