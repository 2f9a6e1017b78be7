"""A job's runtime before JAX starts: XLA's threads and flags, the compilation cache, malloc's tuning.

Nothing here imports JAX or NumPy: each must be set before they load.
"""

from __future__ import annotations

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
    faults and ~15 % of a D = 80 step (docs/notes/performance-record.md, "Training
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


# What this process's job said of JAX (limit_cpu_threads): a table job in the
# warm process has JAX imported and must not start it.
job_uses_jax: bool | None = None


def start_job(threads: int, **runtime) -> None:
    """Start a workflow script's job: in the warm process if one serves the run, else here.

    Handed over (``onepixel.study.warm``), the job runs there from the top of
    its script and this process exits with its status; otherwise (or in
    that process) ``limit_cpu_threads(threads, **runtime)``.
    """
    import os

    from onepixel.study import warm

    # What limit_cpu_threads sets before NumPy and JAX load, set before the
    # handing over: the warm process checks it against its own.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    use_compilation_cache()
    status = warm.hand_over(threads)
    if status is not None:
        sys.exit(status)
    limit_cpu_threads(threads, **runtime)


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
    ``ONEPIXEL_XLA_CPU_FLAGS=0`` leaves ``XLA_FLAGS`` as it is, for a jaxlib
    other than the pinned one whose XLA does not know these CPU flags (XLA
    stops at an unknown flag).
    """
    import os

    global job_uses_jax
    job_uses_jax = uses_jax
    if keep_memory:
        keep_freed_memory()
    if "numpy" not in sys.modules:
        # NumPy's OpenBLAS would start a thread per core, which spin after every
        # product on the cores the other jobs run on.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    from onepixel.study.warm import FORK_VARIABLE

    # A fork of the warm process has imported JAX but not started its backend.
    if "jax" in sys.modules and not os.environ.get(FORK_VARIABLE):
        return
    use_compilation_cache()
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("ONEPIXEL_XLA_CPU_FLAGS", "1") != "0":
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
