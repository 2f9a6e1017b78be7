import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_config():
    from onepixel.study.config import validate_config

    return validate_config(yaml.safe_load((REPO / "config" / "tiny.yaml").read_text()))


@pytest.fixture
def config(tiny_config):
    return copy.deepcopy(tiny_config)


@pytest.fixture(scope="session")
def trained_d16(tiny_config):
    """A D=16, step 2.0 network trained to accuracy 1.0, with its dataset."""
    from onepixel.data.lines import build_dataset, selected_images
    from onepixel.models.cnn import Architecture
    from onepixel.training.train import train

    ds = build_dataset(16, 2.0, tiny_config)
    chosen = selected_images(ds, True)
    arch = Architecture.from_config(16, tiny_config["model"])
    result = train(
        ds["images"].values[chosen], ds["label"].values[chosen], arch, tiny_config["training"], seed=0
    )
    return ds, chosen, arch, result


WORKFLOW_FILES = ("Snakefile", "workflow", "config", "resources", "onepixel", "envs", "profiles")


def snakemake(cwd, *args, timeout=900, env=None):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def copy_workflow(work: Path) -> Path:
    """The workflow's files in a fresh directory (results and logs stay there)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, work / name)
    return work


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="session")
def tiny_study(workdir):
    """The tiny study run locally with `snakemake --cores 2`."""
    run = snakemake(workdir, "--cores", "2", "--configfile", "config/tiny.yaml")
    assert run.returncode == 0, run.stderr[-5000:]
    return workdir, yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
