"""One network through each model kind flip_search takes, side by side: fast, plain JAX, ONNX, NumPy callable.

    python benchmarks/models.py                      # D = 80, step 0.5, 4 images per kind
    python benchmarks/models.py --size 32 --step 2 --images 8

On the paper's dataset at ``--step`` and one network (a study's trained net
from ``--models`` where it has one, else random weights: the speed does not
depend on them), each kind searches the same ``--images`` images in its own
process on one core, after a warm-up: the exact fast search of the
``onepixel.CNN``, the plain search of the same weights as a JAX callable, as
an ONNX graph run by onnxruntime, and as a batched NumPy callable. It prints
seconds and candidates per second per kind, the ratios to the fast search,
how many decisions differ from the fast search (must be 0), and the peak
memory of the fast search over every image, in memory and streamed to
NetCDF (``out=``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

KINDS = ("fast", "jax", "onnx", "numpy")


def model_of(kind: str, arch, params, work: Path):
    """The model and params flip_search gets for one kind, all on the same weights."""
    import onepixel

    cnn = onepixel.CNN(arch)
    if kind == "fast":
        return cnn, params
    if kind == "jax":
        return (lambda p, x: cnn.apply({"params": p}, x)), params
    if kind == "onnx":
        sys.path.insert(0, str(common.REPO / "tests"))
        import onnx
        from onnx_graphs import cnn_graph

        path = work / "net.onnx"
        onnx.save(cnn_graph(arch, params), path)
        return onepixel.OnnxModel(path, threads=1), None
    import jax

    apply = jax.jit(lambda x: cnn.apply({"params": params}, x))
    return onepixel.NumpyModel(lambda x: np.asarray(apply(x)), batch_size=1024), None


def child(args) -> None:
    common.one_core()
    import onepixel

    work = Path(args.work)
    images = np.load(work / "images.npy")
    arch = onepixel.Architecture(args.size)
    params = common.load_params(work / "params.msgpack")
    model, weights = model_of(args.kind, arch, params, work)
    if args.scope == "sample":
        images = images[: int(args.images)]
    if args.scope == "stream-half":
        images = images[: len(images) // 2]
    out = work / "cube.nc" if args.scope.startswith("stream") else None
    onepixel.flip_search(model, weights, images[:1], progress=False)  # compiles the shapes
    started = time.perf_counter()
    cube = onepixel.flip_search(model, weights, images, out=out, progress=False)
    seconds = time.perf_counter() - started
    if args.scope == "sample":
        np.save(work / f"misclassified-{args.kind}.npy", cube["misclassified"].values)
    common.report({"seconds": seconds, "candidates": int(cube.attrs["n_candidates"])})


def compare(args) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        origin = common.network(args.size, args.step, Path(args.models), work)
        n_images = len(np.load(work / "images.npy"))
        base = ["--size", str(args.size), "--work", str(work), "--images", str(args.images)]
        runs = {
            kind: common.run_child("models.py", common.REPO, [*base, "--kind", kind, "--scope", "sample"])
            for kind in KINDS
        }
        whole = {
            scope: common.run_child("models.py", common.REPO, [*base, "--kind", "fast", "--scope", scope])
            for scope in ("memory", "stream-half", "stream")
        }
        wrong = {kind: np.load(work / f"misclassified-{kind}.npy") for kind in KINDS}
    rows = []
    fast_rate = runs["fast"]["candidates"] / runs["fast"]["seconds"]
    for kind in KINDS:
        rate = runs[kind]["candidates"] / runs[kind]["seconds"]
        rows.append(
            [
                kind,
                f"{runs[kind]['candidates']:,}",
                f"{runs[kind]['seconds']:.2f}",
                f"{rate:,.0f}",
                f"{fast_rate / rate:,.0f}x" if kind != "fast" else "1x",
                int((wrong[kind] != wrong["fast"]).sum()),
                f"{runs[kind]['peak_mb']:,.0f}",
            ]
        )
    print(
        f"D = {args.size}, step {args.step}: {n_images:,} images; network: {origin}; one core per process\n"
    )
    header = ["kind", "candidates", "seconds", "candidates/s", "fast is", "decisions != fast", "peak MB"]
    print(common.markdown(header, rows))
    print()
    rows = [
        [
            scope,
            f"{whole[scope]['candidates']:,}",
            f"{whole[scope]['seconds']:.1f}",
            f"{whole[scope]['candidates'] / whole[scope]['seconds']:,.0f}",
            f"{whole[scope]['peak_mb']:,.0f}",
        ]
        for scope in ("memory", "stream-half", "stream")
    ]
    print(
        common.markdown(
            [
                "fast search (stream-half: the first half of the images)",
                "candidates",
                "seconds",
                "candidates/s",
                "peak MB",
            ],
            rows,
        )
    )


def main() -> None:
    parser = common.parser(__doc__, step=0.5, child_args=("--kind", "--scope"))
    parser.set_defaults(sizes=None)
    parser.add_argument("--images", type=int, default=4, help="images each kind searches (default 4)")
    parser.add_argument("--models", default="results/models/paper", help="a study's trained nets")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.size = args.size or 80
    compare(args)


if __name__ == "__main__":
    main()
