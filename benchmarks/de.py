"""ART's one-pixel DE attack per D: a git ref's ``de_attack`` against this tree's, side by side.

    python benchmarks/de.py --ref HEAD~5 --sizes 16 80

Per D, the first ``--images`` images of the paper's dataset at ``--step`` and
one network (a study's trained net from ``--models`` where it has one, else
random weights), attacked with the same seed by each tree in its own process
on one core, after a warm-up image. It prints seconds per image, the ratio,
and whether both found the same flips with the same query counts.
``--answers``: this tree's attack answers its one-pixel proposals from an
exhaustive search of the images (made before the clock starts), the ref's
asks the network, as the attack jobs do with ``attacks.answers_from_search``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common


def child(args) -> None:
    """Attack in this process, with whichever tree's onepixel is first on the path."""
    common.one_core()
    import onepixel
    from onepixel.attacks import de_attack

    work = Path(args.work)
    images = np.load(work / "images.npy")[: args.images + 1]
    model = onepixel.CNN(onepixel.Architecture(args.size))
    params = common.load_params(work / "params.msgpack")
    # The network's own decisions are the labels: every image is an attack target.
    logits = model.apply({"params": params}, images.astype(np.float32))
    labels = np.asarray(logits).argmax(axis=1)
    warm_up, attacked = {}, {}
    if args.answers:
        from onepixel.attacks import SearchedFlips

        cube = onepixel.flip_search(model, params, images, labels)
        answers = [cube[name].values for name in ("misclassified", "margin", "base_margin")]
        warm_up["answers"] = SearchedFlips(*(values[:1] for values in answers))
        attacked["answers"] = SearchedFlips(*(values[1:] for values in answers))
    de_attack(model, params, images[:1], labels[:1], max_iter=args.max_iter, seed=0, **warm_up)
    started = time.perf_counter()
    result = de_attack(model, params, images[1:], labels[1:], max_iter=args.max_iter, seed=0, **attacked)
    seconds = time.perf_counter() - started
    common.report(
        {
            "seconds": seconds,
            "found": result.found.tolist(),
            "pixels": (result.row * args.size + result.col).tolist(),
            "queries": result.queries.tolist(),
        }
    )


def compare(args) -> None:
    rows = []
    with common.checkout(args.ref) as ref_tree:
        for size in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                common.network(size, args.step, Path(args.models), work)
                base = ["--size", str(size), "--work", str(work), "--images", str(args.images)]
                base += ["--max-iter", str(args.max_iter)]
                old = common.run_child("de.py", ref_tree, base)
                new = common.run_child("de.py", common.REPO, base + ["--answers"] * args.answers)
                same = all(old[key] == new[key] for key in ("found", "pixels", "queries"))
                rows.append(
                    [
                        size,
                        args.images,
                        f"{old['seconds'] / args.images:.2f}",
                        f"{new['seconds'] / args.images:.2f}",
                        f"{old['seconds'] / new['seconds']:.2f}x",
                        f"{sum(new['found'])}",
                        f"{np.median(new['queries']):,.0f}",
                        "yes" if same else "NO",
                    ]
                )
    header = [
        "D",
        "images",
        f"s per image {args.ref}",
        "s per image",
        f"new / {args.ref}",
        "found",
        "median queries",
        "same flips and queries",
    ]
    answered = ", this tree's answers from an exhaustive search" if args.answers else ""
    print(f"step {args.step}, max_iter {args.max_iter}, one core per process{answered}")
    print(common.markdown(header, rows))


def main(argv=None) -> None:
    parser = common.parser(__doc__, step=2.0)
    parser.add_argument("--models", default=str(common.REPO / "results" / "models" / "paper"))
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--answers", action="store_true", help="answer this tree's proposals from a search")
    args = parser.parse_args(argv)
    (child if args.child else compare)(args)


if __name__ == "__main__":
    if "--child" not in sys.argv:  # a child imports the tree under test, first on its PYTHONPATH
        sys.path.insert(0, str(common.REPO))  # a checkout without an install
    main()
