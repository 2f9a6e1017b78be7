import copy
import json
import os
import subprocess
import sys

import jax
import numpy as np

from onepixel.dataset import build_dataset, selected_images
from onepixel.model import Architecture
from onepixel.train import bce_loss, train


def test_short_training_run_reaches_full_accuracy(trained_d16):
    ds, chosen, arch, result = trained_d16
    assert result.reached_full_accuracy
    assert result.final_accuracy == 1.0
    assert result.history[-1]["n_errors"] == 0
    assert all(h["n_errors"] > 0 for h in result.history[:-1])  # stops at the first 1.0
    from onepixel.search import base_margins

    predicted = base_margins(arch, result.params, ds["images"].values[chosen]) > 0
    np.testing.assert_array_equal(predicted, ds["label"].values[chosen].astype(bool))


def test_same_seed_same_weights_other_seed_other_weights(config):
    cfg = copy.deepcopy(config["training"])
    cfg["max_epochs"] = 2
    ds = build_dataset(16, 4.0, config)
    chosen = selected_images(ds, True)
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    arch = Architecture(16)
    runs = [train(images, labels, arch, cfg, seed) for seed in (3, 3, 4)]
    leaves = [jax.tree_util.tree_leaves(r.params) for r in runs]
    for a, b in zip(leaves[0], leaves[1], strict=False):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(leaves[0], leaves[2], strict=False))
    assert runs[0].history[0]["loss"] == runs[1].history[0]["loss"]


def test_epoch_cap_is_recorded_not_hidden(config):
    cfg = copy.deepcopy(config["training"])
    cfg["max_epochs"] = 1
    cfg["learning_rate"] = 1e-7  # cannot converge in one epoch
    ds = build_dataset(16, 4.0, config)
    chosen = selected_images(ds, True)
    result = train(ds["images"].values[chosen], ds["label"].values[chosen], Architecture(16), cfg, 0)
    assert not result.reached_full_accuracy
    assert result.epochs == 1 and result.final_accuracy < 1.0


def test_bce_matches_keras_formula():
    logits = np.array([[2.0, -1.0], [0.5, 0.25]], np.float32)
    labels = np.array([0, 1])
    p = 1 / (1 + np.exp(-logits))
    target = np.eye(2)[labels]
    expected = -(target * np.log(p) + (1 - target) * np.log(1 - p)).mean()
    np.testing.assert_allclose(float(bce_loss(logits, labels)), expected, rtol=1e-6)


def test_one_thread_jobs_keep_the_full_cpu_affinity():
    # The XLA pool is sized while the affinity is narrowed; afterwards every
    # thread of the job may run on any allowed core again.
    script = (
        "import os, json\n"
        "before = sorted(os.sched_getaffinity(0))\n"
        "from onepixel.logs import limit_cpu_threads\n"
        "limit_cpu_threads(1, eigen_convolutions=True)\n"
        "import jax, jax.numpy as jnp\n"
        "total = float(jnp.ones((64, 64)).sum())\n"
        "threads = [sorted(os.sched_getaffinity(int(t))) for t in os.listdir('/proc/self/task')]\n"
        "print(json.dumps([before, threads, os.environ['XLA_FLAGS'], total]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    before, threads, flags, total = json.loads(out.stdout.strip().splitlines()[-1])
    assert total == 4096.0
    assert all(mask == before for mask in threads)
    assert "--xla_cpu_multi_thread_eigen=false" in flags
    assert "-individual_convolution" in flags
