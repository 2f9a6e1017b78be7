"""The warm process itself (``onepixel.study.warm``): import the stages once, fork a process per job.

One thread: it waits on the socket and the jobs' connections and reaps the
forks, so each fork starts from a process that holds no lock another thread
could have held.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

from onepixel.study import runtime
from onepixel.study.warm import FORK_VARIABLE, PACKAGE_ROOT, import_time_env, read_line

# Snakemake's shell sets these to a job's threads.
SNAKEMAKE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
POLL_SECONDS = 0.05
# What the server imports before it serves: the stages' heavy imports.
PRELOAD = (
    "numpy",
    "jax",
    "jax.numpy",
    "flax.linen",
    "optax",
    "xarray",
    "netCDF4",
    "matplotlib",
    "snakemake.script",
    "onepixel.study.logs",
    "onepixel.study.dataset_stage",
    "onepixel.study.train_stage",
    "onepixel.study.search_stage",
    "onepixel.study.attack_stage",
)


def _refusal(request: dict, import_env: dict) -> str | None:
    """Why this job cannot run in a fork of this server (None: it can)."""
    if request["executable"] != os.path.realpath(sys.executable):
        return f"another Python ({request['executable']})"
    if request["root"] != PACKAGE_ROOT:
        return f"another onepixel ({request['root']})"
    differs = sorted(set(import_env.items()) ^ set(import_time_env(request["env"]).items()))
    if differs:
        return f"other import-time settings ({', '.join(sorted({k for k, _ in differs}))})"
    return None


def _end_with_the_server() -> None:
    """Linux: be killed if the warm process dies, whose job's side then reports the job failed.

    Without it a fork would run on, and could write its outputs after
    Snakemake has given the job up.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _run_job(request: dict, fds: list[int], added: dict) -> None:
    """In the fork: become the job's process, run its script, exit with its status."""
    import atexit
    import runpy
    import traceback

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    _end_with_the_server()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for name, value in added.items():
        os.environ.setdefault(name, value)
    os.environ[FORK_VARIABLE] = "1"
    sys.argv = list(request["argv"])
    status = 0
    try:
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as end:
        if end.code is None or isinstance(end.code, int):
            status = end.code or 0
        else:
            print(end.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def serve(socket_path: str, parent_pid: int) -> None:
    """Import the stages, then fork a process for each job handed over, until ``parent_pid`` is gone."""
    import importlib
    import logging
    import select
    import time

    logging.basicConfig(level=logging.INFO, format="%(asctime)s warm process: %(message)s")
    log = logging.getLogger("onepixel.warm")
    # Terminated by the run that started it: the finally below ends the jobs still running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    runtime.keep_freed_memory()
    # What Snakemake sets for a one-thread job (NumPy's BLAS is sized when NumPy loads).
    for name in SNAKEMAKE_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    runtime.use_compilation_cache()
    before = dict(os.environ)
    started = time.perf_counter()
    for name in PRELOAD:
        importlib.import_module(name)
    # The few modules of ART the DE attack uses (~0.6 s a job), without ART's package imports.
    importlib.import_module("onepixel.attacks.de").art_classes()
    import_env = import_time_env(before)
    # What the imports set (JAX: TF_CPP_MIN_LOG_LEVEL), set in each job as a fresh process would.
    added = {k: v for k, v in os.environ.items() if k not in before}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    log.info("serving at %s (imports took %.1f s)", socket_path, time.perf_counter() - started)
    jobs: dict[int, tuple[socket.socket, str, float]] = {}  # pid: (connection, script, start)
    try:
        while os.getppid() == parent_pid:
            connections = {conn: pid for pid, (conn, _, _) in jobs.items()}
            ready, _, _ = select.select([listener, *connections], [], [], POLL_SECONDS)
            for conn in ready:
                if conn is listener:
                    _accept(listener, jobs, import_env, added, log)
                else:
                    # A job's side never sends after its request: this is its end (killed).
                    os.kill(connections[conn], signal.SIGKILL)
            _reap(jobs, log)
    finally:
        listener.close()
        for pid in jobs:
            os.kill(pid, signal.SIGKILL)
        Path(socket_path).unlink(missing_ok=True)


def _accept(listener, jobs, import_env, added, log) -> None:
    import time

    conn, _ = listener.accept()
    conn.settimeout(10)
    try:
        first, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        request = json.loads(read_line(conn, first))
    except (OSError, ValueError) as error:
        log.info("a request could not be read (%s)", error)
        conn.close()
        return
    refusal = _refusal(request, import_env) if len(fds) == 3 else "no standard streams"
    if refusal:
        log.info("%s runs on its own: %s", request.get("script"), refusal)
        conn.sendall(b'{"accepted": false}\n')
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    conn.sendall(b'{"accepted": true}\n')
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            for other, _, _ in jobs.values():
                other.close()
            conn.close()
            _run_job(request, fds, added)
        finally:
            os._exit(1)  # _run_job never returns: only a failure before the job's script lands here
    for fd in fds:
        os.close(fd)
    jobs[pid] = (conn, Path(request["script"]).name, time.perf_counter())


def _reap(jobs, log) -> None:
    import time

    while jobs:
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            return
        if pid not in jobs:
            continue
        conn, script, start = jobs.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        log.info(
            "%s: status %d, %.1f s, peak memory %.0f MB",
            script,
            code,
            time.perf_counter() - start,
            usage.ru_maxrss / 1024,
        )
        try:
            conn.sendall(json.dumps({"status": code if code >= 0 else 128 - code}).encode() + b"\n")
        except OSError:
            pass  # its side is gone
        conn.close()
