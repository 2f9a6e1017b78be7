"""The warm process (onepixel.study.warm): jobs handed over run as forks of it, the same as on their own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onepixel.study import warm, warm_server

REPO = Path(__file__).resolve().parents[1]

# A stand-in for a workflow script: reports where it ran, then exits with 3.
SCRIPT = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
before = "jax" in sys.modules
from onepixel.study.runtime import start_job
start_job(1)
import jax
print("pid", os.getpid(), "forked", os.environ.get("ONEPIXEL_WARM_JOB"), "jax before", before,
      "argv", sys.argv[1:], "cwd", os.getcwd(), "devices", len(jax.devices()), flush=True)
if "--sleep" in sys.argv:
    import time
    time.sleep(60)
sys.exit(3)
"""


def start_server(folder):
    """A warm process serving jobs at folder/socket (started as the Snakefile's onstart does)."""
    path = str(folder / "socket")
    log = open(folder / "server.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO)!r}); from onepixel.study.warm_server import serve; "
            f"serve({path!r}, {os.getpid()})",
        ],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        if os.path.exists(path):
            break
        time.sleep(0.1)
    assert os.path.exists(path), (folder / "server.log").read_text()
    return process, log, path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A warm process serving this module's jobs."""
    folder = tmp_path_factory.mktemp("warm")
    process, log, path = start_server(folder)
    yield path, folder
    process.terminate()
    process.wait(timeout=10)
    log.close()
    assert not os.path.exists(path)  # it removes its socket when it ends


def run_script(folder, socket_path, *args, env_extra=None, **popen):
    script = folder / "job.py"
    script.write_text(SCRIPT)
    env = {**os.environ, warm.SOCKET_VARIABLE: socket_path, **(env_extra or {})}
    # Snakemake gives a one-thread job these; the server starts with the same.
    env.update(dict.fromkeys(warm_server.SNAKEMAKE_THREAD_VARIABLES, "1"))
    env.pop(warm.FORK_VARIABLE, None)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def test_a_handed_over_job_runs_in_a_fork_with_its_arguments_flags_and_status(server):
    path, folder = server
    # An XLA flag of the job's, read when the fork starts JAX's backend.
    job = run_script(
        folder, path, "a", "b", env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    )
    out, _ = job.communicate(timeout=120)
    assert job.returncode == 3, out
    fields = out.split()
    assert fields[fields.index("forked") + 1] == "1", out
    assert fields[fields.index("before") + 1] == "True", out  # JAX came imported
    assert "['a', 'b']" in out and f"cwd {folder}" in out
    assert fields[fields.index("devices") + 1] == "3", out
    assert int(fields[fields.index("pid") + 1]) != job.pid


def test_a_job_with_other_import_time_settings_runs_on_its_own(server):
    path, folder = server
    job = run_script(folder, path, env_extra={"JAX_ENABLE_X64": "1"})
    out, _ = job.communicate(timeout=120)
    assert job.returncode == 3, out
    assert "forked None jax before False" in out
    assert "other import-time settings (JAX_ENABLE_X64)" in (folder / "server.log").read_text()


def test_without_a_server_or_when_switched_off_a_job_runs_on_its_own(server, tmp_path):
    path, folder = server
    for socket_path, extra in ((str(tmp_path / "none"), {}), (path, {warm.SWITCH_VARIABLE: "0"})):
        job = run_script(folder, socket_path, env_extra=extra)
        out, _ = job.communicate(timeout=120)
        assert job.returncode == 3 and "forked None jax before False" in out, out


def test_killing_a_handed_over_job_ends_its_fork(server):
    path, folder = server
    job = run_script(folder, path, "--sleep")
    line = job.stdout.readline()
    while line and not line.startswith("pid"):  # log lines of JAX's
        line = job.stdout.readline()
    fork = int(line.split()[1])
    assert "forked 1" in line and fork != job.pid
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=10)
    assert gone(fork), f"the fork {fork} outlived its job"


def gone(pid, seconds=10.0):
    """Whether ``pid`` ends (or is a zombie no one has reaped yet) within ``seconds``."""
    for _ in range(int(seconds * 10)):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_a_fork_ends_with_its_warm_process_and_the_job_reports_it(tmp_path):
    process, log, path = start_server(tmp_path)
    job = run_script(tmp_path, path, "--sleep")
    line = job.stdout.readline()
    while line and not line.startswith("pid"):
        line = job.stdout.readline()
    fork = int(line.split()[1])
    process.kill()
    process.wait(timeout=10)
    log.close()
    out, _ = job.communicate(timeout=30)
    assert job.returncode == 1 and "the warm process ended while it ran this job" in out, out
    assert gone(fork), f"the fork {fork} outlived its warm process"
