"""The paper's observations on every toy scenario, through the API: train, search every flip, measure.

    python examples/scenarios.py                          # every scenario, D = 16 and 32, seeds 0 and 1
    python examples/scenarios.py --scenarios boxes ellipses --sizes 16 --seeds 0

Per scenario, size and seed: the scenario's unique masks (``onepixel.make_dataset``),
the ambiguous ones left out, a paper CNN trained with ``onepixel.train`` (the
config's settings, at most ``--epochs``), every flip searched with
``onepixel.flip_search``, flips onto another mask of the set not counted. It
prints the adversarial rate, the share of adversarial flips on the 10 % of
images nearest the decision boundary (the paper: they crowd there), and how
far the flipped pixels lie from the object (the paper: on or next to it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import onepixel
from onepixel.analysis.boundary import flip_object_distances, near_boundary_share
from onepixel.search.cube import dataset_landing

TRAINING = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "batch_size": 32}


def run(scenario: str, size: int, seed: int, epochs: int) -> dict:
    """One net of one scenario: its numbers."""
    dataset = onepixel.make_dataset(scenario, size)
    chosen = np.flatnonzero(~dataset["ambiguous"].values)
    images, labels = dataset["images"].values[chosen], dataset["label"].values[chosen].astype(np.int64)
    arch = onepixel.Architecture(size)
    started = time.perf_counter()
    trained = onepixel.train(images, labels, arch, {**TRAINING, "max_epochs": epochs}, seed)
    cube = onepixel.flip_search(
        onepixel.CNN(arch),
        trained.params,
        images,
        labels,
        lands_on=dataset_landing(dataset, chosen),
        progress=False,
    )
    distances = flip_object_distances(images, cube["adversarial"].values)
    return {
        "scenario": scenario,
        "size": size,
        "seed": seed,
        "images": len(images),
        "full_accuracy": trained.reached_full_accuracy,
        "rate": cube.attrs["adversarial_rate"],
        "near_share": near_boundary_share(
            dataset["boundary_distance"].values[chosen], cube["n_adversarial"].values
        ),
        "within_1px": float((distances <= 1).mean()) if distances.size else float("nan"),
        "seconds": time.perf_counter() - started,
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=sorted(onepixel.scenarios))
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args(argv)
    rows = [run(s, d, k, args.epochs) for s in args.scenarios for d in args.sizes for k in args.seeds]
    print(
        "| scenario | D | seed | images | accuracy 1.0 | adversarial rate | share on the 10 % nearest "
        "the boundary | flips within 1 px of the object | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['size']} | {r['seed']} | {r['images']:,} "
            f"| {'yes' if r['full_accuracy'] else 'no'} "
            f"| {r['rate']:.2e} | {r['near_share']:.2f} | {r['within_1px']:.2f} | {r['seconds']:.1f} |"
        )
    return rows


if __name__ == "__main__":
    main()
