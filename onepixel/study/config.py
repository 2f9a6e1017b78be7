"""Configuration checks: one message naming the key and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import numpy as np
import yaml

from onepixel.models.architecture import Architecture  # no JAX: the reading jobs import this
from onepixel.study.scenarios import LINES, REGISTRY, grid_steps, make_scenario, scenario_names
from onepixel.study.variants import merge_overrides

# Package data (pyproject.toml), so a non-editable install finds it; the
# workflow's workflow/schemas/config.schema.yaml links here.
SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "<top level>"


TYPE_EXAMPLES = {
    "integer": "a whole number such as 10 (not 10.0 or a string)",
    "number": "a number such as 0.5",
    "array": "a list such as [16, 32]",
    "object": "a mapping of keys to values",
    "string": "a string",
    "boolean": "true or false",
}
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _fix(error: jsonschema.ValidationError) -> str:
    schema, kind = error.schema, error.validator
    if kind == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        return f"remove or rename the unknown key; allowed keys here: {allowed}"
    if kind == "enum":
        return f"use one of {schema['enum']}"
    if kind == "required":
        return "add the missing key (see config/config.yaml for every key)"
    if kind == "type":
        return f"use {TYPE_EXAMPLES.get(schema['type'], 'a value of type ' + str(schema['type']))}"
    if kind in BOUNDS:
        bounds = {k: schema[k] for k in BOUNDS if k in schema}
        return f"use a value within {bounds}"
    if kind == "minItems":
        return f"give at least {schema['minItems']} item(s)"
    if kind == "maxItems":
        return f"give at most {schema['maxItems']} item(s)"
    if kind == "uniqueItems":
        return "list each value once"
    if kind == "pattern":
        return "use letters, digits and underscores, starting with a letter (it becomes a path level)"
    if kind == "minProperties":
        return "give at least one entry, e.g. {paper: {}}"
    return "see config/config.yaml and onepixel/study/config.schema.yaml"


def _strict_integer(checker, instance) -> bool:
    # JSON Schema counts 10.0 as an integer; a size, seed or epoch count of 10.0
    # would then reach paths ("D16.0") and range() as a float.
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def fill_defaults(config: dict, schema: dict) -> dict:
    """The schema's ``default`` of every optional key the config leaves out, in place.

    The schema is the one source of the defaults: a key absent at the top level,
    or inside a section the config holds, takes the default it declares there.
    """
    for key, spec in schema.get("properties", {}).items():
        if key not in config and "default" in spec:
            config[key] = copy.deepcopy(spec["default"])
        if isinstance(config.get(key), dict) and "properties" in spec:
            fill_defaults(config[key], spec)
    return config


def validate_config(config: dict, schema: dict | None = None, sources=()) -> dict:
    """Validate ``config`` in place against the schema and cross-field rules.

    ``sources``: the config files it came from, named in every error.
    """
    try:
        return _validate(config, schema)
    except ConfigError as error:
        if not sources:
            raise
        names = " + ".join(str(s) for s in sources)
        raise ConfigError(f"{names}: {error}") from None


def load_config_file(path) -> dict:
    """Read one YAML config file; a syntax error or an empty file names the file and the place."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(
            f"{path}: not valid YAML{where} ({problem}). Fix: correct the YAML there "
            "(compare with config/config.yaml)"
        ) from None
    if not isinstance(config, dict) or not config:
        raise ConfigError(
            f"{path}: empty or not a mapping of keys. Fix: start from a copy of config/config.yaml"
        )
    return config


def _validate(config: dict, schema: dict | None) -> dict:
    dataset = config.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("length_min_by_size"), dict):
        # YAML reads `32: 16` with an integer key; JSON schema wants strings.
        dataset["length_min_by_size"] = {str(k): v for k, v in dataset["length_min_by_size"].items()}
    if not isinstance(config, dict) or not config:
        raise ConfigError(
            "config: empty or not a mapping of keys. Fix: start from config/config.yaml "
            "(snakemake --configfile FILE)"
        )
    schema = schema or load_schema()
    fill_defaults(config, schema)
    validator = StrictValidator(schema)
    _raise_first(validator.iter_errors(config))
    _validate_variants(config, schema)
    _validate_scenarios(config)
    if LINES not in scenario_names(config):
        return _validate_model(config)
    for i, step in enumerate(config["angle_steps"]):
        per_half_turn = 180.0 / step
        if abs(per_half_turn - round(per_half_turn)) > 1e-9:
            raise ConfigError(
                f"config key 'angle_steps[{i}]': {step} does not divide 180, so the angle grid would "
                "not close at 180°. Fix: use a step 180 / n, e.g. 0.5, 1.0, 2.0, 4.0 or 5.0"
            )
    low, high = config["dataset"]["positive_range_deg"]
    if low > high:
        raise ConfigError(
            f"config key 'dataset.positive_range_deg': low {low} > high {high}. "
            "Fix: give [low, high] with low <= high"
        )
    for key in config["dataset"].get("length_min_by_size", {}):
        if not key.isdigit() or int(key) not in config["sizes"]:
            raise ConfigError(
                f"config key 'dataset.length_min_by_size.{key}': not one of sizes "
                f"{config['sizes']}. Fix: use a size from 'sizes' as key"
            )
    for size in config["sizes"]:
        length_min = (
            config["dataset"].get("length_min_by_size", {}).get(str(size), config["dataset"]["length_min"])
        )
        if length_min > size - config["dataset"]["length_max_margin"]:
            raise ConfigError(
                f"config key 'dataset.length_min': {length_min} > D - length_max_margin "
                f"for D={size}. Fix: lower dataset.length_min or remove {size} from sizes"
            )
    return _validate_model(config)


def _validate_model(config: dict) -> dict:
    for size in config["sizes"]:
        try:
            Architecture.from_config(size, config["model"]).validate()
        except ValueError as error:
            raise ConfigError(f"config key 'model' / 'sizes': {error}") from None
    return config


def _validate_scenarios(config: dict) -> None:
    """Registered scenario names, a grid for each, options its generator takes, a grid at every size."""
    chosen = scenario_names(config)
    grids = config["dataset"]["grids"]
    for name in chosen:
        if name not in REGISTRY:
            raise ConfigError(
                f"config key 'dataset.scenario': {name!r} is not a scenario. "
                f"Fix: use one of {sorted(REGISTRY)}"
            )
    for name in grids:
        if name not in REGISTRY or name == LINES:
            raise ConfigError(
                f"config key 'dataset.grids.{name}': not a scenario with a grid of its own. "
                f"Fix: use one of {sorted(set(REGISTRY) - {LINES})} (the lines take angle_steps)"
            )
    for name in chosen:
        if name == LINES:
            continue
        if name not in grids:
            raise ConfigError(
                f"config key 'dataset.grids.{name}': missing for the chosen scenario. "
                f"Fix: add dataset.grids.{name}: {{steps: [{REGISTRY[name].default_step}]}}"
            )
        try:
            scenario = make_scenario(config, name)
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"config key 'dataset.grids.{name}': {error}. Fix: use the options of "
                f"{type(REGISTRY[name]).__name__}.__init__ (onepixel/data/) besides steps"
            ) from None
        for size in config["sizes"]:
            for step in grid_steps(config, name):
                axes = scenario.grid(size, step)
                labels = scenario.label(*np.meshgrid(*axes, indexing="ij")) if min(map(len, axes)) else []
                if len(np.unique(labels)) < 2:
                    raise ConfigError(
                        f"config key 'dataset.grids.{name}.steps': step {step} gives no images of both "
                        f"classes at D={size}. Fix: use a smaller step or a larger size"
                    )
    clash = sorted(set(config["variants"]) & set(REGISTRY))
    if clash:
        raise ConfigError(
            f"config key 'variants.{clash[0]}': a variant may not share a scenario's name "
            "(both are path levels). Fix: rename the variant"
        )


def _raise_first(errors, prefix=()) -> None:
    errors = sorted(errors, key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = _key([*prefix, *error.absolute_path])
        raise ConfigError(f"config key '{where}': {error.message}. Fix: {_fix(error)}")


def _validate_variants(config: dict, schema: dict) -> None:
    """Each variant's merged model and training sections against their schema."""
    for name, overrides in config["variants"].items():
        merged = merge_overrides(config, overrides)
        for section in overrides:
            validator = StrictValidator(schema["properties"][section])
            _raise_first(validator.iter_errors(merged[section]), ("variants", name, section))
        training = merged["training"]
        if training["distillation_temperature"] is not None and training["adversarial_rounds"] > 0:
            raise ConfigError(
                f"config key 'variants.{name}.training': distillation_temperature and adversarial_rounds "
                "together are not supported. Fix: make them two variants"
            )


def step_name(step: float) -> str:
    """Wildcard spelling of an angle step: 0.5 -> '0.5', 1 -> '1.0'."""
    return str(float(step))


def main(argv=None) -> int:
    """`python -m onepixel.study.config FILE...`: check config files before a run (syntax and values)."""
    import sys

    # A file named twice (make run CONFIG=config/config.yaml) is merged once.
    paths = list(dict.fromkeys(sys.argv[1:] if argv is None else argv)) or ["config/config.yaml"]
    merged: dict = {}
    try:
        for path in paths:
            merge_config(merged, load_config_file(path))
        validate_config(merged, sources=paths)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{' + '.join(paths)}: valid")
    return 0


def merge_config(base: dict, update: dict) -> None:
    """Snakemake's merge of several config files: nested mappings updated key by key."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value


if __name__ == "__main__":
    raise SystemExit(main())
