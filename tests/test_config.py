import copy
import subprocess

import pytest
import yaml

from onepixel.study.config import ConfigError, load_config_file, load_schema, merge_config, validate_config
from onepixel.study.config import main as config_main

from .conftest import REPO


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "tiny.yaml"):
        validate_config(yaml.safe_load((REPO / "config" / name).read_text()))


def merged(*paths) -> dict:
    """The config Snakemake runs: config/config.yaml (the Snakefile's), then each --configfile over it."""
    config: dict = {}
    for path in ("config/config.yaml", *paths):
        merge_config(config, load_config_file(REPO / path))
    return validate_config(config, sources=("config/config.yaml", *paths))


def make_commands(target: str, *variables: str) -> list[str]:
    run = subprocess.run(["make", "-n", target, *variables], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


@pytest.mark.parametrize(
    ("target", "variables", "study"),
    [
        ("run", (), "default"),
        ("paper", (), "default"),
        ("defences", (), "defences"),
        ("demo", (), "default"),
        ("run", ("CONFIG=config/tiny_defences.yaml",), "defences"),
    ],
)
def test_each_make_target_checks_the_merged_config_snakemake_runs(target, variables, study):
    lines = make_commands(target, *variables)
    check = next(line for line in lines if "-m onepixel.study.config" in line).split()
    run = next(line for line in lines if "snakemake --cores" in line).split()
    checked = check[check.index("onepixel.study.config") + 1 :]
    configfiles = run[run.index("--configfile") + 1 :]
    # What is checked is what Snakemake merges: its own config/config.yaml, then the --configfile.
    assert list(dict.fromkeys(checked)) == list(dict.fromkeys(["config/config.yaml", *configfiles]))
    assert config_main(checked) == 0
    assert (merged(*configfiles)["name"] or "default") == study


def test_an_override_file_alone_is_checked_merged(tmp_path):
    """`make run CONFIG=my.yaml` with only the keys it changes: invalid alone, valid merged."""
    override = tmp_path / "my.yaml"
    override.write_text("sizes: [16]\nseeds: [0]\n")
    with pytest.raises(ConfigError, match="required"):
        validate_config(load_config_file(override), sources=[override])
    assert config_main([str(REPO / "config/config.yaml"), str(override)]) == 0
    lines = make_commands("run", f"CONFIG={override}")
    assert any(f"onepixel.study.config config/config.yaml {override}" in line for line in lines)


def test_optional_keys_take_the_schemas_defaults():
    config = validate_config(
        {k: v for k, v in load_config_file(REPO / "config/tiny.yaml").items() if k != "attacks"}
    )
    schema = load_schema()
    attacks = schema["properties"]["attacks"]["properties"]
    assert config["attacks"] == {key: spec["default"] for key, spec in attacks.items()}
    assert config["name"] == "" and config["training"]["adversarial_rounds"] == 0
    # The schema's attack defaults are the study's: config/config.yaml sets the same values.
    shipped = load_config_file(REPO / "config/config.yaml")["attacks"]
    assert {k: v for k, v in shipped.items() if k != "enabled"} == {
        k: v for k, v in config["attacks"].items() if k != "enabled"
    }


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
        # The defences are off in the paper's study.
        "label_smoothing": 0.0,
        "distillation_temperature": None,
        "adversarial_rounds": 0,
    }
    assert cfg["variants"] == {"paper": {}}


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
        # Integers where integers are meant: 16.0 would reach paths as "D16.0".
        (lambda c: c.update(sizes=[16.0]), r"'sizes\[0\]'.*not of type 'integer'.*whole number"),
        (lambda c: c.update(seeds=[0.0]), r"'seeds\[0\]'.*not of type 'integer'.*whole number"),
        (lambda c: c["training"].update(max_epochs=10.0), r"'training.max_epochs'.*whole number"),
        (lambda c: c["training"].update(max_epochs="ten"), r"'training.max_epochs'.*'ten'.*whole number"),
        (lambda c: c["training"].update(batch_size=True), r"'training.batch_size'.*whole number"),
        (lambda c: c["model"].update(kernel=3.0), r"'model.kernel'.*whole number"),
        # The smallest step, and steps that do not divide 180.
        (lambda c: c.update(angle_steps=[1e-5]), r"'angle_steps\[0\]'.*minimum of 0.01.*within"),
        (lambda c: c.update(angle_steps=[2.0, 7.0]), r"'angle_steps\[1\]'.*does not divide 180.*180 / n"),
        (lambda c: c.update(angle_steps=[0.7]), r"does not divide 180"),
        # List shapes: the fix says what is wrong with the list, not its type.
        (lambda c: c.update(sizes=[]), r"'sizes'.*non-empty.*at least 1 item"),
        (lambda c: c.update(seeds=[0, 0]), r"'seeds'.*non-unique.*each value once"),
        (lambda c: c["model"].update(conv_channels=[]), r"'model.conv_channels'.*at least 1 item"),
        (lambda c: c["dataset"].update(positive_range_deg=[0, 40, 80]), r"positive_range_deg.*at most 2"),
        (lambda c: c["search"].update(method="quick"), r"'search.method'.*use one of \['fast', 'plain'\]"),
        (lambda c: c["training"].pop("learning_rate"), r"'training'.*learning_rate.*add the missing key"),
        (
            lambda c: c["training"].update(lr=0.1),
            r"'training'.*lr.*allowed keys here: adversarial_rounds, batch",
        ),
        # Variants and attacks.
        (lambda c: c.update(variants={}), r"'variants'.*at least one entry"),
        (lambda c: c.update(variants={"my-net": {}}), r"'variants'.*letters, digits and underscores"),
        (
            lambda c: c.update(variants={"x": {"model": {"conv_channel": [3]}}}),
            r"'variants.x.model'.*conv_channel.*allowed keys here: conv_channels",
        ),
        (
            lambda c: c.update(variants={"x": {"training": {"label_smoothing": 1.0}}}),
            r"'variants.x.training.label_smoothing'.*within",
        ),
        (
            lambda c: c.update(
                variants={"x": {"training": {"distillation_temperature": 20, "adversarial_rounds": 1}}}
            ),
            r"'variants.x.training'.*together are not supported.*two variants",
        ),
        (lambda c: c.update(attacks={"methods": ["fgsm"]}), r"'attacks.methods\[0\]'.*use one of"),
        (lambda c: c.update(attacks={"de_max_iter": 0}), r"'attacks.de_max_iter'.*within"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(tiny_config, edit, message):
    cfg = copy.deepcopy(tiny_config)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_errors_name_the_config_files(tiny_config):
    cfg = copy.deepcopy(tiny_config)
    cfg["training"]["max_epochs"] = 10.0
    with pytest.raises(
        ConfigError, match=r"^config/config.yaml \+ mine.yaml: config key 'training.max_epochs'"
    ):
        validate_config(cfg, sources=["config/config.yaml", "mine.yaml"])


def test_a_yaml_syntax_error_names_the_file_and_the_place(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sizes: [16\nseeds: : :\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line 2, column \d+"):
        load_config_file(bad)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- 16\n- 32\n"])
def test_an_empty_config_file_names_the_file(tmp_path, text):
    empty = tmp_path / "empty.yaml"
    empty.write_text(text)
    with pytest.raises(ConfigError, match=r"empty.yaml: empty or not a mapping"):
        load_config_file(empty)


def test_config_check_command(tmp_path, capsys):
    assert config_main([str(REPO / "config" / "tiny.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    partial = tmp_path / "partial.yaml"
    partial.write_text("training: {max_epochs: 10.0}\n")
    assert config_main([str(REPO / "config" / "config.yaml"), str(partial)]) == 1
    err = capsys.readouterr().err
    assert "partial.yaml: config key 'training.max_epochs'" in err and len(err.strip().splitlines()) == 1
