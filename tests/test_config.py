import copy

import pytest
import yaml

from onepixel.config import ConfigError, validate_config

from .conftest import REPO


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "tiny.yaml"):
        validate_config(yaml.safe_load((REPO / "config" / name).read_text()))


def test_default_config_is_the_paper_grid():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert cfg["sizes"] == [16, 32, 48, 64, 80]
    assert cfg["angle_steps"] == [0.5, 1.0, 2.0]
    assert len(cfg["seeds"]) == 5
    assert cfg["dataset"]["length_min"] == 12 and cfg["dataset"]["length_max_margin"] == 2
    assert cfg["training"] == {
        "learning_rate": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "batch_size": 32,
        "max_epochs": cfg["training"]["max_epochs"],
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(colour="red"), r"'<top level>'.*colour.*remove or rename"),
        (lambda c: c["dataset"].update(rasterizer="bresenham"), r"'dataset.rasterizer'.*use one of"),
        (lambda c: c.update(sizes=[16, 4]), r"'sizes\[1\]'.*minimum"),
        (lambda c: c["training"].update(learning_rate=-1), r"'training.learning_rate'"),
        (lambda c: c["dataset"].update(length_min=40), r"'dataset.length_min'.*D=16"),
        (lambda c: c["dataset"].update(positive_range_deg=[50, 40]), r"positive_range_deg"),
        (lambda c: c["dataset"].update(length_min_by_size={33: 12}), r"length_min_by_size.33"),
        (lambda c: c["model"].update(conv_channels=[8, 8, 8, 8]), r"'model'.*too small"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(tiny_config, edit, message):
    cfg = copy.deepcopy(tiny_config)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)
