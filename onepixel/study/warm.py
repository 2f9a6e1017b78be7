"""A warm process for a local run's jobs: Python, JAX, Flax and xarray imported once, each job a fork of it.

Every job of the workflow is a fresh Python process that spends ~2.3 s
importing JAX, Flax, optax and xarray before its first line of work: a
quarter of the default study's job time. With a local executor the
Snakefile starts this server (``start_server``); a job's script then hands
itself over (``hand_over``, from ``onepixel.study.runtime.start_job``): the
server forks, and the fork runs Snakemake's script file from the top with
the job's working directory, environment, arguments and standard streams,
so the job does exactly what it does in a process of its own. The handing
process waits and exits with the fork's status; if it is killed, so is the
fork.

The fork has imported JAX but not started its backend: each job still sets
its XLA threads and flags (read when the backend starts) and its JAX
compilation cache. A job runs in its own process where this cannot hold:
another Python (a conda env), another onepixel, JAX, BLAS or Python
settings in its environment than the server started with, more than one
thread, a cluster executor (the server is never started there) or
``ONEPIXEL_WARM=0``. The results do not depend on where a job runs.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

SOCKET_VARIABLE = "ONEPIXEL_WARM_SOCKET"
SWITCH_VARIABLE = "ONEPIXEL_WARM"
FORK_VARIABLE = "ONEPIXEL_WARM_JOB"
# Environment variables read when Python, NumPy's BLAS or JAX load (not when a
# job starts JAX's backend): a job whose values differ runs on its own.
IMPORT_TIME_PREFIXES = (
    "JAX_",
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "GOTO_",
    "VECLIB_",
    "NUMEXPR_",
    "TF_CPP_",
    "PYTHON",
)
REQUEST_LIMIT = 1 << 20
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def import_time_env(env) -> dict:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}


def read_line(conn: socket.socket, first: bytes = b"") -> bytes:
    data = first
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk or len(data) > REQUEST_LIMIT:
            raise ConnectionError("the other end closed the connection mid-message")
        data += chunk
    return data


def hand_over(threads: int) -> int | None:
    """Run this job's script in the warm process and return its exit status; None: run it here.

    Call first thing in a workflow script, after
    ``runtime.use_compilation_cache()`` (the server compares the
    environment with its own).
    """
    path = os.environ.get(SOCKET_VARIABLE)
    if not path or os.environ.get(FORK_VARIABLE) or os.environ.get(SWITCH_VARIABLE) == "0":
        return None
    if threads != 1 or not hasattr(socket, "send_fds"):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    request = {
        "script": os.path.abspath(sys.argv[0]),
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "executable": os.path.realpath(sys.executable),
        "root": PACKAGE_ROOT,
    }
    with conn:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            reply = json.loads(read_line(conn))
        except (OSError, ValueError):
            return None  # nothing has run yet
        if not reply.get("accepted"):
            return None
        # From here the job runs there: its status, or an error of its own.
        try:
            return int(json.loads(read_line(conn))["status"])
        except (OSError, ValueError, KeyError):
            print(
                "error: the warm process ended while it ran this job; rerun it, or run without it "
                f"({SWITCH_VARIABLE}=0)",
                file=sys.stderr,
            )
            return 1


def start_server(local: bool, log_path: str | os.PathLike) -> None:
    """Start the warm process for this run's jobs, where it applies (a local run on a POSIX system).

    Sets ``ONEPIXEL_WARM_SOCKET`` for the jobs; the server ends with the
    process that started it (Snakemake). ``ONEPIXEL_WARM=0`` leaves it off.
    """
    import atexit
    import shutil
    import subprocess
    import tempfile

    if not local or os.environ.get(SWITCH_VARIABLE) == "0" or not hasattr(os, "fork"):
        return
    folder = tempfile.mkdtemp(prefix="onepixel-warm-")
    path = os.path.join(folder, "socket")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
                "from onepixel.study.warm_server import serve; "
                f"serve({path!r}, {os.getpid()})",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    os.environ[SOCKET_VARIABLE] = path

    def stop():
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
