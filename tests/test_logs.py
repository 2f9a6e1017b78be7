"""Every job failure ends its own log with one line (the traceback above it); stale temp files go."""

import json
import logging
from pathlib import Path

import pytest

from onepixel.io import ResultFileError, check_identity
from onepixel.study.logs import run_stage
from onepixel.study.provenance import cpu_info, provenance_attrs


def failing_with(error):
    def stage():
        raise error

    return stage


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    for handler in logging.getLogger().handlers[:]:
        handler.close()
        logging.getLogger().removeHandler(handler)


def test_a_known_input_error_ends_the_log_with_its_message_and_fix(tmp_path, capsys):
    log = tmp_path / "job.log"
    error = ResultFileError("results/x.nc: holds D=18; fix: `rm results/x.nc` and rerun")
    with pytest.raises(SystemExit) as exit_info:
        run_stage(log, failing_with(error))
    assert exit_info.value.code == 1
    lines = log.read_text().strip().splitlines()
    assert lines[-1].endswith("ERROR onepixel: results/x.nc: holds D=18; fix: `rm results/x.nc` and rerun")
    assert any(line.startswith("Traceback") for line in lines[:-1])
    # The console (Snakemake's stderr) gets the one line without the traceback.
    assert "Traceback" not in capsys.readouterr().err


def test_an_unexpected_error_ends_the_log_with_one_line(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit):
        run_stage(log, failing_with(ZeroDivisionError("division by zero")))
    text = log.read_text()
    last = text.strip().splitlines()[-1]
    assert "stage failed: ZeroDivisionError: division by zero; fix:" in last
    assert "Traceback" in text and text.index("Traceback") < text.index(last)


def test_the_next_run_removes_what_a_killed_writer_left(tmp_path):
    out = tmp_path / "results" / "seed0.nc"
    out.parent.mkdir()
    stale = out.parent / ".seed0.nc.abc123.tmp"
    stale.write_text("half")
    other = out.parent / ".seed1.nc.abc123.tmp"  # another job's output: left alone
    other.write_text("half")
    run_stage(tmp_path / "job.log", lambda: None, outputs=[str(out)])
    assert not stale.exists() and other.exists()
    assert "removed" in (tmp_path / "job.log").read_text()


def test_provenance_records_the_cpu():
    info = cpu_info()
    assert info["model"] and info["machine"] and info["vector_isa"]
    attrs = provenance_attrs({"a": 1}, {"b": 2})
    assert json.loads(attrs["onepixel_cpu"]) == info
    assert json.loads(attrs["onepixel_settings"]) == {"b": 2}


def test_identity_check_names_what_the_file_holds_and_what_differs():
    found = {
        "size": 16,
        "angle_step": 4.0,
        "seed": 1,
        "onepixel_settings": json.dumps({"training": {"lr": 1}}),
    }
    with pytest.raises(
        ResultFileError, match=r"f.nc: holds the cube of D=16, step=4.0, seed=1, but this path "
    ):
        check_identity("f.nc", "cube", found, dict(size=16, angle_step=2.0, seed=0))
    same = dict(size=16, angle_step=4.0, seed=1)
    check_identity("f.nc", "cube", found, same, {"training": {"lr": 1}})
    with pytest.raises(ResultFileError, match=r"training.lr: file has 1, config has 2"):
        check_identity("f.nc", "cube", found, same, {"training": {"lr": 2}})
    with pytest.raises(ResultFileError, match=r"records no settings"):
        check_identity("f.nc", "cube", {**found, "onepixel_settings": None}, same, {"training": {"lr": 1}})


def test_a_job_sets_xla_threads_and_flags_before_jax_starts():
    """Every workflow script does this first: study.runtime must not import JAX (flags come too late)."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from onepixel.study.runtime import EIGEN_CONVOLUTIONS_FLAG, limit_cpu_threads\n"
        "assert 'jax' not in sys.modules and 'numpy' not in sys.modules, 'runtime imported them'\n"
        "limit_cpu_threads(1, eigen_convolutions=True)\n"
        "flags = os.environ['XLA_FLAGS']\n"
        "assert '--xla_cpu_multi_thread_eigen=false' in flags and EIGEN_CONVOLUTIONS_FLAG in flags, flags\n"
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "blas = [p['num_threads'] for p in threadpool_info() if p['internal_api'] == 'openblas']\n"
        "assert blas and set(blas) == {1}, threadpool_info()\n"
        "import onepixel\n"
        "assert onepixel.CNN.__name__ == 'CNN' and callable(onepixel.flip_search)\n"
    )
    ours = ("XLA_FLAGS", "OPENBLAS_NUM_THREADS")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ours}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr


def test_the_xla_cpu_flags_can_be_left_out():
    """ONEPIXEL_XLA_CPU_FLAGS=0 (a jaxlib that does not know them) keeps XLA_FLAGS as the user set it."""
    import subprocess
    import sys

    own = "--xla_cpu_multi_thread_eigen=true"
    script = (
        "import os\n"
        "from onepixel.study.runtime import limit_cpu_threads\n"
        "limit_cpu_threads(1, eigen_convolutions=True)\n"
        f"assert os.environ.get('XLA_FLAGS') == '{own}', os.environ.get('XLA_FLAGS')\n"
        "import jax\n"
        "assert jax.numpy.ones(2).sum() == 2\n"
    )
    env = {**__import__("os").environ, "ONEPIXEL_XLA_CPU_FLAGS": "0", "XLA_FLAGS": own}
    env.pop("OPENBLAS_NUM_THREADS", None)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr


def test_the_table_jobs_never_start_jax(tmp_path):
    """Its script passes uses_jax=False to start_job; its imports and run_stage load no JAX."""
    import subprocess
    import sys

    log = tmp_path / "stage.log"
    script = (
        "import sys\n"
        "from onepixel.study.logs import run_stage\n"
        "from onepixel.study.runtime import limit_cpu_threads\n"
        "limit_cpu_threads(1, uses_jax=False)\n"
        "import onepixel.study.tables.paper, onepixel.study.tables.variants, onepixel.study.summary\n"
        "import onepixel.study.config, onepixel.study.inputs, onepixel.study.variants\n"
        "run_stage(sys.argv[1], lambda: None)\n"
        "assert 'jax' not in sys.modules and 'flax' not in sys.modules, 'JAX imported'\n"
    )
    command = [sys.executable, "-c", script, str(log)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "JAX" not in log.read_text()
    scripts = Path(__file__).parents[1] / "workflow" / "scripts"
    assert "start_job(snakemake.threads, uses_jax=False)" in (scripts / "tables.py").read_text()


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_job_reuses_freed_memory_instead_of_faulting_it_in_again():
    """keep_freed_memory: a thread that allocates and frees 75 MB over and over stops page-faulting.

    XLA-CPU runs a step's buffers in such a thread; with glibc's defaults the
    extra heap its arena needs is unmapped on free and faulted in again.
    """
    import subprocess
    import sys

    script = (
        "import resource, sys, threading\n"
        "import numpy as np\n"
        "from onepixel.study.runtime import keep_freed_memory\n"
        "if sys.argv[1] == 'keep':\n"
        "    assert keep_freed_memory()\n"
        "def work():\n"
        "    for _ in range(int(sys.argv[2])):\n"
        "        blocks = [np.empty(25 * 2**20 // 4, np.float32) for _ in range(3)]\n"
        "        for block in blocks:\n"
        "            block.fill(1.0)\n"
        "        del blocks\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "thread = threading.Thread(target=work)\n"
        "thread.start()\n"
        "thread.join()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    faults = {}
    for mode in ("default", "keep"):
        for rounds in (10, 40):
            run = subprocess.run(
                [sys.executable, "-c", script, mode, str(rounds)], capture_output=True, text=True, timeout=60
            )
            assert run.returncode == 0, run.stderr
            faults[mode, rounds] = int(run.stdout.split()[-1])
    more_with_defaults = faults["default", 40] - faults["default", 10]
    more_kept = faults["keep", 40] - faults["keep", 10]
    assert more_with_defaults > 1000, faults  # 30 more rounds fault their pages in again
    assert more_kept < 0.05 * more_with_defaults, faults
