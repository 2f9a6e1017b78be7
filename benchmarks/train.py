"""Training per D: the epoch time of a git ref's training against this tree's, side by side.

    python benchmarks/train.py --ref HEAD~5 --sizes 64 80

Per D, on the paper's dataset at ``--step`` (the images an epoch goes over),
each tree trains the paper's net from the same seed for ``--epochs`` epochs
in its own process on one core, with the workflow train job's XLA settings.
An epoch is its Adam steps plus the error check of the stopping rule; the
first epoch compiles, so the fastest of the later ones is compared. Both
trees draw the same batches and dropout masks, so their losses agree to
float rounding: the table prints the largest difference.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import common


def child(args) -> None:
    """Train in this process, with whichever tree's onepixel is first on the path."""
    common.one_core(eigen_convolutions=True)
    import onepixel

    try:
        from onepixel.training.train import train
    except ImportError:  # the layout before onepixel.training
        from onepixel.train import train
    work = Path(args.work)
    images, labels = np.load(work / "images.npy"), np.load(work / "labels.npy")
    training_cfg = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "batch_size": 32}
    training_cfg["max_epochs"] = args.epochs
    result = train(images, labels, onepixel.Architecture(args.size), training_cfg, seed=0)
    common.report(
        {
            "epoch_seconds": [r["seconds"] for r in result.history],
            "losses": [r["loss"] for r in result.history],
        }
    )


def compare(args) -> None:
    rows = []
    with common.checkout(args.ref) as ref_tree:
        for size in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                images, labels = common.paper_images(size, args.step)
                np.save(work / "images.npy", images)
                np.save(work / "labels.npy", labels)
                base = ["--size", str(size), "--work", str(work), "--epochs", str(args.epochs)]
                old = common.run_child("train.py", ref_tree, base)
                new = common.run_child("train.py", common.REPO, base)
                # The first epoch compiles; a net that stopped after one has nothing else.
                old_s = min(old["epoch_seconds"][1:] or old["epoch_seconds"])
                new_s = min(new["epoch_seconds"][1:] or new["epoch_seconds"])
                shared = min(len(old["losses"]), len(new["losses"]))
                loss_diff = np.abs(np.subtract(old["losses"][:shared], new["losses"][:shared])).max()
                rows.append(
                    [
                        size,
                        f"{len(images):,}",
                        f"{old_s:.2f}",
                        f"{new_s:.2f}",
                        f"{old_s / new_s:.2f}x",
                        f"{len(old['losses'])} / {len(new['losses'])}",
                        f"{loss_diff:.1e}",
                        f"{old['peak_mb']:,.0f} / {new['peak_mb']:,.0f}",
                    ]
                )
    header = [
        "D",
        "images",
        f"epoch s {args.ref}",
        "epoch s",
        f"new / {args.ref}",
        "epochs run",
        "max loss difference",
        f"peak MB {args.ref} / new",
    ]
    print(f"step {args.step}, batch 32, one core per process; the fastest epoch after the first")
    print(common.markdown(header, rows))


def main(argv=None) -> None:
    parser = common.parser(__doc__, step=0.5)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per tree (the first compiles)")
    args = parser.parse_args(argv)
    (child if args.child else compare)(args)


if __name__ == "__main__":
    if "--child" not in sys.argv:  # a child imports the tree under test, first on its PYTHONPATH
        sys.path.insert(0, str(common.REPO))  # a checkout without an install
    main()
