"""The exact search per D: the plain search, the fast search of a git ref and the fast search of this tree.

    python benchmarks/search.py --ref HEAD~5 --sizes 16 32 80
    python benchmarks/search.py --ref HEAD~5 --sizes 32 --conv-channels 32 32 64 \
        --models results/models/deeper

Per D, on the paper's dataset at ``--step`` and one network (a study's trained
net from ``--models`` where it has one, else random weights: the speed does
not depend on them): the plain search (every flipped image through the full
forward pass) on a sample of ``--plain-candidates`` candidates, and the fast
search on every candidate (the paper's net, or ``--conv-channels``, e.g. the
``deeper`` variant's 32 32 64), each in its own process on one core as a workflow
job runs, after a warm-up that compiles the shapes. It prints candidates per
second, the ratios fast/plain and new/ref, the peak memory of each process,
and how many decisions differ (fast against plain on the sample, the ref's
fast search against this tree's on every candidate: both must be 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common


def child(args) -> None:
    """One search in this process, with whichever tree's onepixel is first on the path."""
    common.one_core()
    import onepixel

    work = Path(args.work)
    images = np.load(work / "images.npy")
    model = onepixel.CNN(onepixel.Architecture(args.size, conv_channels=tuple(args.conv_channels)))
    params = common.load_params(work / "params.msgpack")
    if args.method == "plain":
        images = images[: args.plain_images]
    warm_up = images[: 1 if args.method == "plain" else 8]
    options = {"method": args.method, "chunk_candidates": args.plain_chunk}
    onepixel.flip_search(model, params, warm_up, **options)
    started = time.perf_counter()
    cube = onepixel.flip_search(model, params, images, **options)
    seconds = time.perf_counter() - started
    np.save(work / f"misclassified-{args.name}.npy", cube["misclassified"].values)
    common.report({"seconds": seconds, "candidates": int(cube["margin"].size)})


def compare(args) -> None:
    rows, origins = [], []
    with common.checkout(args.ref) as ref_tree:
        for size in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                origin = common.network(size, args.step, Path(args.models), work, args.conv_channels)
                n_images = len(np.load(work / "images.npy"))
                plain_images = max(1, -(-args.plain_candidates // (size * size)))
                base = ["--size", str(size), "--work", str(work), "--plain-images", str(plain_images)]
                base += ["--plain-chunk", str(args.plain_chunk)]
                base += ["--conv-channels", *map(str, args.conv_channels)]
                runs = {
                    name: common.run_child("search.py", tree, [*base, "--method", method, "--name", name])
                    for name, tree, method in (
                        ("plain", common.REPO, "plain"),
                        ("ref", ref_tree, "fast"),
                        ("new", common.REPO, "fast"),
                    )
                }
                plain, old, new = runs["plain"], runs["ref"], runs["new"]
                wrong = {name: np.load(work / f"misclassified-{name}.npy") for name in runs}
                rate = {name: r["candidates"] / r["seconds"] for name, r in runs.items()}
                origins.append(f"D = {size}: {origin}")
                rows.append(
                    [
                        size,
                        f"{n_images:,}",
                        f"{new['candidates']:,}",
                        f"{rate['plain']:,.0f}",
                        f"{rate['ref']:,.0f}",
                        f"{rate['new']:,.0f}",
                        f"{rate['new'] / rate['plain']:,.0f}x",
                        f"{rate['new'] / rate['ref']:.2f}x",
                        f"{new['seconds']:.1f}",
                        f"{plain['peak_mb']:,.0f} / {old['peak_mb']:,.0f} / {new['peak_mb']:,.0f}",
                        int((wrong["plain"] != wrong["new"][: len(wrong["plain"])]).sum()),
                        int((wrong["ref"] != wrong["new"]).sum()),
                    ]
                )
    header = [
        "D",
        "N",
        "candidates",
        "plain cand/s",
        f"fast cand/s {args.ref}",
        "fast cand/s",
        "fast / plain",
        f"fast new / {args.ref}",
        "fast s",
        f"peak MB plain / {args.ref} / new",
        "differ: plain",
        f"differ: {args.ref}",
    ]
    channels = " ".join(map(str, args.conv_channels))
    print(
        f"step {args.step}, conv channels {channels}, one core per process; "
        f"plain on {args.plain_candidates:,}+ candidates"
    )
    print(common.markdown(header, rows))
    print("networks: " + "; ".join(origins))


def main(argv=None) -> None:
    parser = common.parser(__doc__, step=0.5, child_args=("--method", "--name"))
    parser.add_argument("--models", default=str(common.REPO / "results" / "models" / "paper"))
    parser.add_argument("--plain-candidates", type=int, default=16384)
    parser.add_argument("--plain-chunk", type=int, default=1024, help="plain candidates per jitted call")
    parser.add_argument("--plain-images", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--conv-channels", type=int, nargs="+", default=[32, 32], help="conv blocks (default: 32 32)"
    )
    args = parser.parse_args(argv)
    (child if args.child else compare)(args)


if __name__ == "__main__":
    if "--child" not in sys.argv:  # a child imports the tree under test, first on its PYTHONPATH
        sys.path.insert(0, str(common.REPO))  # a checkout without an install
    main()
