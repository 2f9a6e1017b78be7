"""Job logging: to the Snakemake log file and to stderr."""

from __future__ import annotations

import logging
import sys

# XLA-CPU hands convolutions to the YNNPACK library by default, whose kernels
# fall off a cliff at D = 80 (the second conv of a training step took 4x the
# Eigen time); this flag keeps YNNPACK for the rest and Eigen for convolutions.
EIGEN_CONVOLUTIONS_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


def use_compilation_cache() -> None:
    """JAX's persistent compilation cache for the workflow's jobs; call before importing JAX.

    Every job is a fresh process that compiles the same few functions (a
    training step, the evaluation, the search kernels) for its D; the cache in
    ``.jax_cache/`` of the working directory keeps them across jobs. Its
    folder is per CPU model and instruction set, so a cluster of mixed nodes
    never loads code compiled for another CPU. ``ONEPIXEL_COMPILATION_CACHE=0``
    turns it off; a ``JAX_COMPILATION_CACHE_DIR`` of your own is kept.
    """
    import hashlib
    import os
    import platform
    from pathlib import Path

    if os.environ.get("ONEPIXEL_COMPILATION_CACHE", "1") == "0" or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    keys = ("model name", "flags", "Features")
    cpu = sorted({line for line in lines if line.split(":")[0].strip() in keys})
    digest = hashlib.sha256("\n".join([platform.machine(), *cpu]).encode()).hexdigest()[:12]
    folder = Path.cwd() / ".jax_cache" / f"{platform.machine()}-{digest}"
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    # Our compiles take 0.1-3 s each: cache them all (JAX's default skips those under 1 s).
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


# glibc mallopt parameters (malloc.h): what keep_freed_memory sets.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # the largest glibc accepts
TOP_PAD_BYTES = 64 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for the next allocation; False where there is no glibc.

    XLA-CPU allocates a computation's buffers afresh on every call (tens of
    MB per D = 80 training step), in the arena of the thread that runs it.
    With glibc's defaults the extra heap that arena needs is unmapped when
    the step frees it, so each step faults its pages in again: ~10,000 page
    faults and ~15 % of a D = 80 step (docs/performance.md, "Training
    speed"). The 64 MB top pad (the slack a heap keeps when it shrinks) is
    what stops it; blocks up to 32 MB also come from the heap, and memory goes
    back to the system only above 1 GB free. Values are unchanged.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(
        mallopt(param, value)
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (M_TOP_PAD, TOP_PAD_BYTES),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        )
    )


def limit_cpu_threads(
    threads: int, eigen_convolutions: bool = False, keep_memory: bool = True, uses_jax: bool = True
) -> None:
    """Give XLA-CPU ``threads`` threads; call before importing JAX.

    Snakemake runs ``--cores N`` as N single-thread jobs side by side, which
    beats fewer jobs sharing threads for these small networks; without this,
    every job's XLA would start one thread per core and oversubscribe them.
    ``--xla_cpu_multi_thread_eigen=false`` alone still leaves XLA's intra-op
    pool (one thread per core: it runs fusions and YNNPACK in parallel), and
    that pool is sized from the CPU affinity when the backend starts. So the
    backend is started with the affinity narrowed to ``threads`` cores, and
    then every thread gets the full affinity back: the OS still places the
    job on whichever core is free. Has no effect on GPU computation.
    ``keep_memory``: ``keep_freed_memory()`` as well. NumPy's OpenBLAS gets
    ``threads`` threads too, where NumPy is not imported yet. ``uses_jax=False``:
    a job that never imports JAX (tables) does not start its
    backend here (0.7 s of what was a 1.8 s summary job).
    """
    import os

    if keep_memory:
        keep_freed_memory()
    if "numpy" not in sys.modules:
        # NumPy's OpenBLAS would start a thread per core, which spin after every
        # product on the cores the other jobs run on.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    if "jax" in sys.modules:
        return
    use_compilation_cache()
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags = f"{flags} --xla_cpu_multi_thread_eigen=false"
    if eigen_convolutions and "ynn_fusion_type" not in flags:
        flags = f"{flags} {EIGEN_CONVOLUTIONS_FLAG}"
    os.environ["XLA_FLAGS"] = flags.strip()
    if not uses_jax or not hasattr(os, "sched_setaffinity"):
        return
    allowed = os.sched_getaffinity(0)
    if threads >= len(allowed):
        return
    os.sched_setaffinity(0, set(sorted(allowed)[:threads]))
    try:
        import jax

        jax.local_devices(backend="cpu")
    finally:
        for task in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(task), allowed)
            except OSError:  # a thread that ended meanwhile
                pass


def setup_logging(log_path=None) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    for noisy in ("absl", "jax._src.xla_bridge"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger("onepixel")


def log_device(logger: logging.Logger) -> None:
    """Log JAX's devices, in a job that has loaded JAX; the reading jobs (summaries, tables) have none."""
    # Importing JAX here would cost each of those jobs a second of JAX and Flax.
    if "jax" not in sys.modules:
        return
    import os

    import jax

    devices = jax.devices()
    # What the scheduler granted (SLURM sets it for --gpus jobs) next to what JAX uses.
    granted = os.environ.get("CUDA_VISIBLE_DEVICES")
    logger.info(
        "JAX %s on %s%s",
        jax.__version__,
        ", ".join(f"{d.platform}:{d.device_kind}" for d in devices),
        f" (CUDA_VISIBLE_DEVICES={granted})" if granted is not None else "",
    )


def remove_stale_temporaries(outputs, logger: logging.Logger) -> None:
    """Remove what a killed writer of these outputs left (onepixel.io.atomic_path's temp files)."""
    from pathlib import Path

    for output in outputs:
        path = Path(output)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
            logger.info("removed %s, left by an interrupted run", stale)


def _traceback_to_log_file() -> None:
    import traceback

    text = traceback.format_exc()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.stream.write(text)
            handler.flush()


def run_stage(log_path, stage, *args, outputs=(), **kwargs) -> None:
    """Run one workflow stage with logging; every failure ends the log with one line.

    Known input errors (a bad config value, a missing, corrupt or foreign file)
    end with their message and its fix; anything else with its type and message.
    The traceback goes above that line in the job's log.
    """
    from onepixel.config import ConfigError
    from onepixel.io import ResultFileError

    logger = setup_logging(log_path)
    remove_stale_temporaries(outputs, logger)
    log_device(logger)
    try:
        stage(*args, **kwargs)
    except (ResultFileError, ConfigError) as error:
        _traceback_to_log_file()
        logger.error("%s", error)
        sys.exit(1)
    except Exception as error:
        logger.error("traceback:", exc_info=True)
        logger.error(
            "%s failed: %s: %s; fix: not a known input problem: check the config and inputs named "
            "above, and if they are valid, report it with this log",
            getattr(stage, "__name__", "stage"),
            type(error).__name__,
            error,
        )
        sys.exit(1)


def parse_result_path(path) -> tuple:
    """(D, step[, seed]) from a result path such as .../D32_step1.0/seed3.nc."""
    import re

    match = re.search(r"D(\d+)_step(\d+\.\d+)(?:/seed(\d+))?", str(path))
    if not match:
        raise ValueError(f"cannot read D, step, seed from path {path}")
    size, step, seed = match.groups()
    key = (int(size), float(step))
    return key + ((int(seed),) if seed is not None else ())


def parse_net_path(path) -> tuple[str, int, float, int]:
    """(variant, D, step, seed) from a net's path such as results/search/paper/D32_step1.0/seed3.nc."""
    import re

    match = re.search(r"([A-Za-z][A-Za-z0-9_]*)/D(\d+)_step(\d+\.\d+)/seed(\d+)", str(path))
    if not match:
        raise ValueError(f"cannot read variant, D, step, seed from path {path}")
    variant, size, step, seed = match.groups()
    return variant, int(size), float(step), int(seed)


def path_role(path) -> str:
    """Which net of a variant a path holds: ``teacher``, ``round<r>`` or ``net``."""
    import re

    text = str(path)
    found = re.search(r"/round(\d+)/", text)
    if found:
        return f"round{found.group(1)}"
    return "teacher" if "/teachers/" in text else "net"
