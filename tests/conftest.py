import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_config():
    from onepixel.config import validate_config

    return validate_config(yaml.safe_load((REPO / "config" / "tiny.yaml").read_text()))


@pytest.fixture
def config(tiny_config):
    return copy.deepcopy(tiny_config)


@pytest.fixture(scope="session")
def trained_d16(tiny_config):
    """A D=16, step 2.0 network trained to accuracy 1.0, with its dataset."""
    from onepixel.dataset import build_dataset, selected_images
    from onepixel.model import Architecture
    from onepixel.train import train

    ds = build_dataset(16, 2.0, tiny_config)
    chosen = selected_images(ds, True)
    arch = Architecture.from_config(16, tiny_config["model"])
    result = train(
        ds["images"].values[chosen], ds["label"].values[chosen], arch, tiny_config["training"], seed=0
    )
    return ds, chosen, arch, result
