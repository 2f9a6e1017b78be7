"""Side-by-side benchmarks, outside the package: ``python benchmarks/run.py {search,train,de,cost} --help``.

Each measurement runs in its own child process, so the peak memory printed is
that method's alone (``ru_maxrss`` of the child: JAX runtime + data + method).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
# The children and a checkout without an install import onepixel from the repository.
sys.path.insert(0, str(REPO))


def load_config(path: str) -> dict:
    from onepixel.study.config import validate_config

    return validate_config(yaml.safe_load(Path(path).read_text()))


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    VmHWM (Linux) is per address space, so a child started by fork + exec
    does not inherit its parent's peak as ``ru_maxrss`` does.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- search ---


def _search_child(args) -> dict:
    """Runs one method on the prepared network; prints a JSON line."""
    from onepixel.study.runtime import limit_cpu_threads

    # One core, as a workflow job (``threads: 1``) runs either method.
    limit_cpu_threads(1)

    from onepixel.models.cnn import CNN, Architecture
    from onepixel.search.fast import FastSearchStats, fast_flip_margins
    from onepixel.search.plain import make_label_flip_fn
    from onepixel.training.checkpoint import load_params

    work = Path(args.work)
    arch = Architecture(args.size)
    params = load_params(work / "params.msgpack", arch)
    images = np.load(work / "images.npy").astype(np.float32)
    sample = np.load(work / "sample.npy")
    n_pixels = args.size * args.size
    result: dict = {}
    if args.child == "plain":
        model = CNN(arch)
        # Label 1 for every image: the label margin is logit_1 - logit_0.
        label_fn = make_label_flip_fn(lambda p, x: model.apply({"params": p}, x))
        ones = __import__("jax").numpy.ones(len(images), "int32")

        def fn(p, x, image_idx, pixel_idx):
            return label_fn(p, x, ones, image_idx, pixel_idx)[0]

        images_dev = __import__("jax").numpy.asarray(images)
        chunk = args.plain_chunk
        # Compile outside the timing, as a long search amortises it.
        fn(params, images_dev, sample[:chunk] // n_pixels, sample[:chunk] % n_pixels).block_until_ready()
        margins = []
        started = time.perf_counter()
        for start in range(0, len(sample), chunk):
            part = sample[start : start + chunk]
            margins.append(np.asarray(fn(params, images_dev, part // n_pixels, part % n_pixels)))
        seconds = time.perf_counter() - started
        np.save(work / "plain_margins.npy", np.concatenate(margins))
        result.update(candidates=len(sample), seconds=seconds)
    else:
        # Warm-up on a few images compiles the common shapes, as for plain.
        fast_flip_margins(arch, params, images[:8], progress_seconds=1e9)
        stats = FastSearchStats()
        started = time.perf_counter()
        margins, _ = fast_flip_margins(arch, params, images, stats=stats, progress_seconds=1e9)
        seconds = time.perf_counter() - started
        result["peak_rss_mb"] = peak_rss_mb()  # of the timed run (one search job)
        # Stages overlap in the timed run; a second run waits at every stage
        # boundary, for where the time goes.
        profiled = FastSearchStats(synchronize=True)
        started = time.perf_counter()
        fast_flip_margins(arch, params, images, stats=profiled, progress_seconds=1e9)
        result["profile_seconds"] = time.perf_counter() - started
        plain = np.load(work / "plain_margins.npy")
        fast = margins.reshape(-1)[sample]
        result.update(
            candidates=int(margins.size),
            seconds=seconds,
            unique_pairs=stats.unique_pairs,
            unique_patches=stats.unique_patches,
            dedup=stats.dedup_factor,
            profile=profiled.profile(),
            max_abs_diff=float(np.abs(fast - plain).max()),
            decisions_differ=int(((fast > 0) != (plain > 0)).sum()),
        )
    result.setdefault("peak_rss_mb", peak_rss_mb())
    print(json.dumps(result))
    return result


def _prepare_network(size: int, step: float, config: dict, work: Path, args) -> tuple[int, str]:
    """Dataset images and a network for one D; returns (N, where the net came from)."""
    from onepixel.data.lines import build_dataset, selected_images
    from onepixel.models.cnn import Architecture
    from onepixel.training.checkpoint import load_params, save_params
    from onepixel.training.train import train

    ds = build_dataset(size, step, config)
    chosen = selected_images(ds, True)
    images, labels = ds["images"].values[chosen], ds["label"].values[chosen]
    arch = Architecture(size)
    trained = Path(args.models) / f"D{size}_step{step}" / "seed0" / "params.msgpack"
    if trained.exists():
        params, origin = load_params(trained, arch), str(trained)
    else:
        cfg = {**config["training"], "max_epochs": args.train_epochs}
        params = train(images, labels, arch, cfg, seed=0).params
        origin = f"trained here for <= {args.train_epochs} epoch(s)"
    save_params(params, work / "params.msgpack")
    np.save(work / "images.npy", images.astype(np.uint8))
    rng = np.random.default_rng(size)
    sample = rng.choice(len(images) * size * size, args.plain_candidates, replace=False)
    np.save(work / "sample.npy", sample)
    return len(images), origin


def _run_child(method: str, size: int, work: Path, args) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "search",
        "--child",
        method,
        "--size",
        str(size),
        "--work",
        str(work),
        "--plain-chunk",
        str(args.plain_chunk),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def benchmark_search(args) -> None:
    if args.child:
        _search_child(args)
        return
    config = load_config(args.config)
    rows = []
    print(
        f"fast vs plain exhaustive flip search, angle step {args.step}, "
        f"plain timed on {args.plain_candidates} random candidates, fast on all",
        flush=True,
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            n, origin = _prepare_network(size, args.step, config, work, args)
            plain = _run_child("plain", size, work, args)
            fast = _run_child("fast", size, work, args)
        plain_rate = plain["candidates"] / plain["seconds"]
        fast_rate = fast["candidates"] / fast["seconds"]
        rows.append((size, n, fast["candidates"], plain_rate, fast_rate, fast, plain))
        profile = ", ".join(f"{k} {v:.1f} s" for k, v in fast["profile"].items() if v >= 0.05)
        print(
            f"D={size}: N={n}, network {origin}\n"
            f"  plain {plain_rate:,.0f} cand/s (peak {plain['peak_rss_mb']:,.0f} MB); "
            f"fast {fast_rate:,.0f} cand/s over {fast['candidates']:,} candidates in "
            f"{fast['seconds']:.1f} s (peak {fast['peak_rss_mb']:,.0f} MB); "
            f"ratio {fast_rate / plain_rate:,.0f}x\n"
            f"  dedup {fast['dedup']:.1f}x, {fast['unique_patches']:,} unique patches tabulated; "
            f"profile (synchronised run, {fast['profile_seconds']:.1f} s): "
            f"{profile}; on the plain sample: "
            f"max |margin diff| {fast['max_abs_diff']:.2e}, decisions differ {fast['decisions_differ']}",
            flush=True,
        )
    print()
    print(
        "| D | N | candidates | plain cand/s | fast cand/s | ratio | fast s | dedup "
        "| peak MB plain / fast | max abs diff | decisions differ |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, n, cands, pr, fr, fast, plain in rows:
        print(
            f"| {size} | {n} | {cands:,} | {pr:,.0f} | {fr:,.0f} | {fr / pr:,.0f}x | {fast['seconds']:.1f} | "
            f"{fast['dedup']:.1f}x | {plain['peak_rss_mb']:,.0f} / {fast['peak_rss_mb']:,.0f} | "
            f"{fast['max_abs_diff']:.1e} | {fast['decisions_differ']} |"
        )


# ----------------------------------------------------------------- train ---


TRAIN_VARIANTS = {
    "previous": "main at 3831d52: block 1 as per-phase patch products, JAX's own gradient, glibc defaults",
    "main-3480bc0": (
        "main at 3480bc0: block 1's phases compared one by one, the second conv's kernel gradient "
        "by JAX (XLA transposes block 1's output for it)"
    ),
    "workflow": (
        "onepixel.CNN as the workflow's train job runs it: block 1 with the hand-written gradient, its "
        "phases compared in one reduction and its output also made channels-first for the second "
        "conv's kernel gradient; the second conv cropped to what the pooling keeps; freed memory kept"
    ),
}


def _previous_first_block(x, kernel, bias, pool):
    """Block 1 of main at 3831d52 (``conv_relu_pool_by_phase``): one patch product per pooling phase."""
    import jax.numpy as jnp
    from flax import linen as nn

    k = kernel.shape[0]
    rows, cols = (x.shape[1] - k + 1) // pool, (x.shape[2] - k + 1) // pool
    weights = kernel.reshape(-1, kernel.shape[-1])
    pooled = None
    for py in range(pool):
        for px in range(pool):
            patches = jnp.concatenate(
                [
                    x[:, py + dy : py + dy + pool * rows : pool, px + dx : px + dx + pool * cols : pool, :]
                    for dy in range(k)
                    for dx in range(k)
                ],
                axis=-1,
            )
            phase = patches @ weights
            pooled = phase if pooled is None else jnp.maximum(pooled, phase)
    return nn.relu(pooled + bias)


def _pooled_phases_3480bc0(x, kernel, bias, pool):
    """``onepixel.models.cnn._pooled_phases`` of main at 3480bc0: the phases compared one at a time."""
    import jax.numpy as jnp
    from flax import linen as nn

    from onepixel.models.cnn import _phase_conv

    k = kernel.shape[0]
    rows, cols = (x.shape[1] - k + 1) // pool, (x.shape[2] - k + 1) // pool
    pooled = winner = None
    for phase_index in range(pool * pool):
        phase = _phase_conv(x, kernel, rows, cols, pool, phase_index // pool, phase_index % pool)
        if pooled is None:
            pooled, winner = phase, jnp.zeros(phase.shape, jnp.int8)
        else:
            better = phase > pooled
            winner = jnp.where(better, jnp.asarray(phase_index, jnp.int8), winner)
            pooled = jnp.where(better, phase, pooled)
    return nn.relu(pooled + bias), winner


def _train_child(args) -> None:
    """Step and evaluation time of one variant for one D (the fastest of ``--rounds``); prints JSON."""
    from onepixel.study.runtime import limit_cpu_threads

    # All variants run the workflow's XLA flags (Eigen convolutions, one thread).
    limit_cpu_threads(args.threads, eigen_convolutions=True, keep_memory=args.child != "previous")

    from functools import partial

    import jax
    import jax.numpy as jnp
    from flax.training import train_state

    import onepixel.models.cnn
    from onepixel.models.cnn import CNN, Architecture
    from onepixel.training.train import EVAL_CHUNK, bce_loss, make_optimizer

    # Looked up when the step is traced, so these swap the first two blocks only.
    if args.child == "previous":
        onepixel.models.cnn.conv_relu_pool_single_channel = _previous_first_block
    if args.child == "main-3480bc0":
        onepixel.models.cnn._pooled_phases = _pooled_phases_3480bc0
    if args.child != "workflow":
        # No channels-first copy: the second conv's kernel gradient is JAX's own.
        onepixel.models.cnn.first_block_for_second_conv = lambda x, kernel, bias, pool: (
            onepixel.models.cnn.conv_relu_pool_single_channel(x, kernel, bias, pool),
            None,
        )
    config = load_config(args.config)
    arch = Architecture.from_config(args.size, config["model"])
    model = CNN(arch)
    key = jax.random.key(0)
    params = model.init(key, jnp.zeros((1, arch.size, arch.size)))["params"]
    rng = np.random.default_rng(0)
    batch = (rng.random((config["training"]["batch_size"], arch.size, arch.size)) > 0.9).astype(np.float32)
    labels = rng.integers(0, 2, len(batch)).astype(np.int32)
    eval_images = (rng.random((EVAL_CHUNK, arch.size, arch.size)) > 0.9).astype(np.float32)
    state = train_state.TrainState.create(
        apply_fn=model.apply, params=params, tx=make_optimizer(config["training"])
    )

    @partial(jax.jit, donate_argnums=0)
    def step(state, x, y, k):
        def loss_fn(p):
            return bce_loss(state.apply_fn({"params": p}, x, train=True, rngs={"dropout": k}), y)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    evaluate = jax.jit(lambda p, x: model.apply({"params": p}, x))
    evaluate(params, eval_images).block_until_ready()
    eval_seconds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        evaluate(params, eval_images).block_until_ready()
        eval_seconds.append((time.perf_counter() - started) / EVAL_CHUNK)

    state, loss = step(state, batch, labels, key)
    loss.block_until_ready()
    step_seconds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.steps):
            state, loss = step(state, batch, labels, key)
        loss.block_until_ready()
        step_seconds.append((time.perf_counter() - started) / args.steps)
    print(json.dumps({"step": min(step_seconds), "eval": min(eval_seconds)}))


def benchmark_train(args) -> None:
    if args.child:
        _train_child(args)
        return
    from onepixel.data.lines import build_dataset, selected_images
    from onepixel.training.train import EVAL_CHUNK

    config = load_config(args.config)
    batch = config["training"]["batch_size"]
    print(
        f"training step, batch {batch}, fastest of {args.rounds} rounds of {args.steps} steps, "
        f"{args.threads} XLA thread(s) per child, the children alternating:"
    )
    for name, text in TRAIN_VARIANTS.items():
        print(f"  {name}: {text}")
    print(
        f"epoch = ceil(N/{batch}) steps + the dropout-off error check (the same forward in both): "
        "previous checks all N images every epoch; workflow stops at the first chunk "
        f"({EVAL_CHUNK} images, the last epoch's errors first) holding an error, so every epoch "
        "but the last checks one chunk and the last (no error) checks all N",
        flush=True,
    )
    names = list(TRAIN_VARIANTS)
    columns = ["D", f"N (step {args.step})", *(f"{n} step ms" for n in names), "step ratio"]
    columns += ["step ratio to 3480bc0", "previous epoch s", "workflow epoch s (not last / last)"]
    columns += ["epoch ratio (not last / last)"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for size in args.sizes:
        ds = build_dataset(size, args.step, config)
        n = int(len(selected_images(ds, True)))
        steps = -(-n // batch)
        timing = {}
        for name in names:
            cmd = [sys.executable, str(Path(__file__).resolve()), "train", "--child", name]
            cmd += ["--size", str(size), "--steps", str(args.steps), "--config", args.config]
            cmd += ["--threads", str(args.threads), "--rounds", str(args.rounds)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            timing[name] = (r["step"], steps * r["step"], r["eval"])
        step_p, steps_p, eval_p = timing["previous"]
        step_w, steps_w, eval_w = timing["workflow"]
        step_m = timing["main-3480bc0"][0]
        previous = steps_p + n * eval_p
        not_last, last = steps_w + min(n, EVAL_CHUNK) * eval_w, steps_w + n * eval_w
        print(
            f"| {size} | {n} | {1000 * step_p:.1f} | {1000 * step_m:.1f} | {1000 * step_w:.1f} "
            f"| {step_p / step_w:.2f}x | {step_m / step_w:.2f}x "
            f"| {previous:.1f} | {not_last:.1f} / {last:.1f} "
            f"| {previous / not_last:.2f}x / {previous / last:.2f}x |",
            flush=True,
        )


# -------------------------------------------------------------------- de ---


DE_VARIANTS = {
    "previous": "main at 04c736c: every proposal classified, in ART's batches of 128 (a compile per length)",
    "workflow": "onepixel.attacks.de_attack: each distinct proposal classified once, batches padded to 16",
}


def _previous_de_attack(model, params, images, labels, max_iter, seed):
    """``de_attack`` of main at 04c736c: ART's black box classifies every proposal it makes."""
    import jax
    import jax.numpy as jnp

    from onepixel import attacks

    logits_fn = jax.jit(lambda x: model.apply({"params": params}, x))
    size = images.shape[-1]
    counter = {"queries": 0}

    def predict(x):
        binary = attacks.binarise(np.asarray(x).reshape(len(x), size, size))
        counter["queries"] += len(binary)
        return np.asarray(jax.nn.softmax(np.asarray(logits_fn(jnp.asarray(binary, jnp.float32))), axis=-1))

    pixel_attack, black_box = attacks.de._art_classes()
    classifier = black_box(predict, (1, size, size), 2, channels_first=True, clip_values=(0, 1))
    attack = pixel_attack(classifier, th=1, es=1, max_iter=max_iter, targeted=False, verbose=False)
    found, queries = [], []
    for i in range(len(images)):
        np.random.seed(seed + i)
        counter["queries"] = 0
        adversarial = attack.generate(images[i : i + 1, None].astype(np.float32))
        changed = np.flatnonzero(attacks.binarise(adversarial[0, 0]).ravel() != images[i].ravel())
        found.append(int(changed[0]) if changed.size == 1 else -1)
        queries.append(counter["queries"])
    return found, queries, [0] * len(images)


def _de_child(args) -> None:
    """One variant's DE on the prepared images (after a 2-generation warm-up); prints JSON."""
    from onepixel.study.runtime import limit_cpu_threads

    limit_cpu_threads(1)  # as the workflow's attack job

    from onepixel import attacks
    from onepixel.models.cnn import CNN, Architecture
    from onepixel.training.checkpoint import load_params

    work = Path(args.work)
    arch = Architecture(args.size)
    model, params = CNN(arch), load_params(work / "params.msgpack", arch)
    images = np.load(work / "images.npy")
    labels = np.asarray(attacks.make_label_fn(model, params)(images))

    def run(max_iter, chosen):
        if args.child == "previous":
            return _previous_de_attack(model, params, images[chosen], labels[chosen], max_iter, 0)
        result = attacks.de_attack(model, params, images[chosen], labels[chosen], max_iter=max_iter, seed=0)
        pixels = np.where(result.found, result.row * args.size + result.col, -1)
        return pixels.tolist(), result.queries.tolist(), result.extra["classified"].tolist()

    run(2, slice(0, 1))
    started = time.perf_counter()
    found, queries, classified = run(args.max_iter, slice(None))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "found": found, "queries": queries, "classified": classified}))


def _prepare_de_images(size: int, config: dict, work: Path, args) -> str:
    """The images the study's attack job picks for net seed 0, or evenly spaced ones; says which."""
    import xarray as xr

    from onepixel.attacks.scores import select_images
    from onepixel.models.cnn import Architecture
    from onepixel.training.checkpoint import load_params, save_params

    study, net = Path(args.study), f"D{size}_step{args.step}"
    params = study / "models" / "paper" / net / "seed0" / "params.msgpack"
    cube = study / "search" / "paper" / net / "seed0.nc"
    dataset = study / "datasets" / f"{net}.nc"
    if not (params.exists() and cube.exists() and dataset.exists()):
        # No cube to pick from: the search benchmark's network (its plain sample unused).
        network = argparse.Namespace(
            models=str(study / "models" / "paper"), train_epochs=1, plain_candidates=1
        )
        _, origin = _prepare_network(size, args.step, config, work, network)
        images = np.load(work / "images.npy")
        chosen = np.linspace(0, len(images) - 1, args.images).round().astype(int)
        np.save(work / "images.npy", images[chosen])
        return f"network {origin}, {args.images} evenly spaced images"
    settings = config["attacks"]
    with xr.open_dataset(cube) as searched, xr.open_dataset(dataset) as ds:
        n_adversarial = searched["n_adversarial"].values
        positions = select_images(
            n_adversarial, settings["vulnerable_per_net"], settings["invulnerable_per_net"], settings["seed"]
        )
        images = ds["images"].values[searched["image"].values[positions]]
    save_params(load_params(params, Architecture(size)), work / "params.msgpack")
    np.save(work / "images.npy", images.astype(np.uint8))
    vulnerable = int((n_adversarial[positions] > 0).sum())
    return f"the study's net seed 0, its attack job's {len(images)} images ({vulnerable} vulnerable)"


def benchmark_de(args) -> None:
    if args.child:
        _de_child(args)
        return
    config = load_config(args.config)
    print(
        f"ART's one-pixel DE (max_iter {args.max_iter}) per D, angle step {args.step}, on the images a "
        f"study's attack job picks ({args.study}) or where it has none, {args.images} evenly spaced "
        "ones of a net trained here; one XLA thread per child, after a warm-up of 2 generations:"
    )
    for name, text in DE_VARIANTS.items():
        print(f"  {name}: {text}")
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            origin = _prepare_de_images(size, config, work, args)
            n_images = len(np.load(work / "images.npy"))
            timing = {}
            for name in DE_VARIANTS:
                cmd = [sys.executable, str(Path(__file__).resolve()), "de", "--child", name]
                cmd += ["--size", str(size), "--work", str(work), "--max-iter", str(args.max_iter)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
                timing[name] = json.loads(out.stdout.strip().splitlines()[-1])
        previous, workflow = timing["previous"], timing["workflow"]
        same = previous["found"] == workflow["found"] and previous["queries"] == workflow["queries"]
        print(f"D={size}: {origin}", flush=True)
        rows.append(
            f"| {size} | {n_images} | {sum(workflow['queries']):,} | {sum(workflow['classified']):,} "
            f"| {previous['seconds'] / n_images:.2f} | {workflow['seconds'] / n_images:.2f} "
            f"| {previous['seconds'] / workflow['seconds']:.2f}x | {'yes' if same else 'NO'} |"
        )
    print(
        "| D | images | queries | classified (workflow) | previous s/image | workflow s/image "
        "| ratio | same flips and queries |"
    )
    print("|---" * 8 + "|")
    print("\n".join(rows))


# ------------------------------------------------------------------ cost ---


def study_cost(args) -> None:
    """Per-stage job time of a finished (or partial) study from its benchmark files."""
    import csv
    import re

    root = Path(args.root)
    pattern = re.compile(r"D(\d+)_step([\d.]+)(?:_seed(\d+))?(?:_round\d+|_de|_random|_gradient)?\.tsv$")
    print(f"job time per stage from {root / 'results' / 'benchmarks'} (Snakemake benchmark: wall s per job)")
    print("| stage | variant | D | jobs | total s | mean s | max s | max RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    grand = 0.0
    for stage in ("dataset", "teacher", "train", "round", "search", "round_search", "attack"):
        rows: dict[tuple[str, int], list[tuple[float, float]]] = {}
        stage_dir = root / "results" / "benchmarks" / stage
        for path in sorted(stage_dir.rglob("*.tsv")):
            match = pattern.search(path.name)
            if not match:
                continue
            # results/benchmarks/<stage>/<variant>/D..._seed....tsv; datasets have no variant.
            variant = path.parent.name if path.parent != stage_dir else "-"
            with path.open() as handle:
                record = next(csv.DictReader(handle, delimiter="\t"))
            key = (variant, int(match.group(1)))
            rows.setdefault(key, []).append((float(record["s"]), float(record["max_rss"])))
        for key in sorted(rows):
            variant, size = key
            seconds = [s for s, _ in rows[key]]
            grand += sum(seconds)
            print(
                f"| {stage} | {variant} | {size} | {len(seconds)} | {sum(seconds):.0f} | "
                f"{np.mean(seconds):.1f} | {max(seconds):.1f} | {max(r for _, r in rows[key]):.0f} |"
            )
    print(f"total job time: {grand:.0f} s ({grand / 3600:.2f} h); wall time on N cores is at least total / N")
    training = root / "results" / "tables" / "training.csv"
    if training.exists():
        print(f"training summary: {training}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    search = sub.add_parser("search", help="fast vs plain flip search per D")
    search.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 80])
    search.add_argument("--step", type=float, default=0.5)
    search.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    search.add_argument(
        "--models",
        default=str(REPO / "results" / "models" / "paper"),
        help="use <models>/D{D}_step{step}/seed0 when it exists (a variant's folder of a study)",
    )
    search.add_argument(
        "--train-epochs", type=int, default=1, help="epochs to train a network where no trained one exists"
    )
    search.add_argument("--plain-candidates", type=int, default=16384)
    search.add_argument("--plain-chunk", type=int, default=1024)
    search.add_argument("--child", choices=["plain", "fast"], help=argparse.SUPPRESS)
    search.add_argument("--size", type=int, help=argparse.SUPPRESS)
    search.add_argument("--work", help=argparse.SUPPRESS)
    search.set_defaults(func=benchmark_search)
    trainp = sub.add_parser(
        "train", help="training step and epoch per D: main at 3831d52 against the workflow train job"
    )
    trainp.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 80])
    trainp.add_argument("--step", type=float, default=0.5, help="angle step of the dataset sizing an epoch")
    trainp.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    trainp.add_argument("--steps", type=int, default=20, help="timed steps per round")
    trainp.add_argument("--rounds", type=int, default=3, help="timing rounds; the fastest is kept")
    trainp.add_argument("--threads", type=int, default=1, help="1: one XLA thread, as in a workflow job")
    trainp.add_argument("--child", choices=list(TRAIN_VARIANTS), help=argparse.SUPPRESS)
    trainp.add_argument("--size", type=int, help=argparse.SUPPRESS)
    trainp.set_defaults(func=benchmark_train)
    de = sub.add_parser("de", help="ART's DE attack per D: main at 04c736c against the workflow's")
    de.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 80])
    de.add_argument("--step", type=float, default=2.0, help="angle step of the dataset the images come from")
    de.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    de.add_argument(
        "--study",
        default=str(REPO / "results"),
        help="a study's results folder: its paper net seed 0, dataset and cube per D, where they exist",
    )
    de.add_argument("--images", type=int, default=5, help="images per D where the study has none")
    de.add_argument("--max-iter", type=int, default=100)
    de.add_argument("--child", choices=list(DE_VARIANTS), help=argparse.SUPPRESS)
    de.add_argument("--size", type=int, help=argparse.SUPPRESS)
    de.add_argument("--work", help=argparse.SUPPRESS)
    de.set_defaults(func=benchmark_de)
    cost = sub.add_parser("cost", help="per-stage job time of a study from its results/benchmarks/ files")
    cost.add_argument("--root", default=".", help="the workflow directory that ran the study")
    cost.set_defaults(func=study_cost)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
