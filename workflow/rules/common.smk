import os
import sys
from pathlib import Path

# The workflow's logic lives in the onepixel package at the repository root.
sys.path.insert(0, str(Path(workflow.basedir)))

from onepixel.io import as_json
from onepixel.study.config import ConfigError, step_name, validate_config
from onepixel.study import inputs, scenarios, settings, variants, warm
from snakemake.logging import logger

try:
    validate_config(
        config, sources=workflow.overwrite_configfiles or workflow.configfiles
    )
except ConfigError as error:
    # One line, no traceback: the message names the file, the key and the fix.
    sys.exit(f"error: {error}")

SIZES = config["sizes"]
STEPS = [step_name(s) for s in config["angle_steps"]]
SEEDS = config["seeds"]
COMBOS = [(d, s) for d in SIZES for s in STEPS]
VARIANTS = variants.variant_names(config)
# The toy scenarios: the lines keep the paper's paths; every other scenario is
# a path level above the variant, and a net key names both ("ellipses/paper").
SCENARIOS = scenarios.scenario_names(config)
SCENARIO_STEPS = {
    s: [step_name(x) for x in scenarios.grid_steps(config, s)] for s in SCENARIOS
}
OTHER_SCENARIOS = [s for s in SCENARIOS if s != scenarios.LINES]
# The lines' variants: the paper's tables, Fig. 2, the variant figures and attacks.
LINE_KEYS = VARIANTS if scenarios.LINES in SCENARIOS else []
NET_KEYS = [scenarios.net_key(s, v) for s in SCENARIOS for v in VARIANTS]
# Each net key's net config: the study config with its scenario and its
# variant's model/training overrides.
NET_CONFIGS = {k: variants.variant_config(config, k) for k in NET_KEYS}
# The sizes each variant's net fits; a (variant, D) that does not fit is skipped.
VARIANT_SIZES = {}
for _key in NET_KEYS:
    _variant = scenarios.split_net_key(_key)[1]
    VARIANT_SIZES[_key], _skipped = variants.variant_sizes(config, _variant)
    for _size, _reason in _skipped.items():
        # Snakemake's logger: on stderr and in .snakemake/log/ of the run.
        logger.warning(f"variant {_key}: D={_size} skipped ({_reason})")
NET_DIR = "{variant}/D{D}_step{step}/seed{seed}"
ROUND_DIR = "results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}"
CPU_ENV = "../../envs/onepixel-cpu.yaml"
# Report captions, by absolute path: report() resolves them from the top Snakefile.
REPORT_DIR = Path(workflow.basedir) / "workflow" / "report"
# Training and search: the CUDA env on GPU clusters (`--config accelerator=cuda`).
ACCELERATOR_ENV = "../../envs/onepixel-{}.yaml".format(config.get("accelerator", "cpu"))


# A local run's jobs fork from one process that has imported JAX, Flax and
# xarray (onepixel.study.warm): ~2 s less per job. ONEPIXEL_WARM=0 turns it off.
onstart:
    warm.start_server(
        workflow.local_exec and not workflow.touch, "logs/warm_process.log"
    )


wildcard_constraints:
    variant="|".join(NET_KEYS),
    scenario="|".join(OTHER_SCENARIOS) or "(?!)",
    D=r"\d+",
    step=r"\d+\.\d+",
    seed=r"\d+",
    round=r"\d+",


def longest_first(wildcards):
    """A per-(D, step) job's priority: its expected cost, ~ D^3 / step.

    A net's dataset holds ~ D / step images of D^2 pixels and a training step
    costs ~ D^2, so the slowest nets (D = 80, step 0.5) start first and the
    last minutes of a 2-core run are small jobs, not one D = 80 net alone.
    """
    return int(wildcards.D) ** 3 / float(wildcards.step)


def net_config(wildcards):
    return NET_CONFIGS[wildcards.variant]


def scenario_config(scenario):
    """The study config of the one scenario (what its datasets are built from)."""
    return scenarios.single_scenario_config(config, scenario)


def settings_param(kind, role="net"):
    """A rule's params: the config its results depend on (a change reruns it)."""
    if kind == "dataset":
        return lambda wc: as_json(
            settings.dataset_settings(
                scenario_config(wc.get("scenario", scenarios.LINES)), int(wc.D)
            )
        )
    of = {
        "training": inputs.net_training_settings,
        "search": inputs.net_search_settings,
    }[kind]
    return lambda wc: as_json(
        of(net_config(wc), int(wc.D), role if role != "round" else f"round{wc.round}")
    )


def figure_settings_param(wildcards):
    sizes = VARIANT_SIZES[wildcards.variant]
    return as_json(
        {
            str(d): settings.figure_settings(net_config(wildcards), d, wildcards.figure)
            for d in sizes
        }
    )


def dataset_paths(scenario_list=(scenarios.LINES,)):
    """The datasets of the given scenarios that the study runs (default: the lines')."""
    return [
        scenarios.dataset_path(c, d, s)
        for c in scenario_list
        if c in SCENARIOS
        for d in SIZES
        for s in SCENARIO_STEPS[c]
    ]


def key_scenario(key):
    return scenarios.split_net_key(key)[0]


def dataset_input(wildcards):
    """A net's dataset: of its scenario, D and step."""
    scenario = key_scenario(wildcards.variant)
    return scenarios.dataset_path(scenario, wildcards.D, wildcards.step)


def per_seed_paths(pattern, variant_list=None):
    """``pattern`` for every net of the given net keys (default: the lines') that fits its D."""
    return [
        pattern.format(variant=v, D=d, step=s, seed=k)
        for v in (LINE_KEYS if variant_list is None else variant_list)
        for d in VARIANT_SIZES[v]
        for s in SCENARIO_STEPS[key_scenario(v)]
        for k in SEEDS
    ]


def kind_of(variant):
    return variants.training_kind(NET_CONFIGS[variant])


def rounds_of(variant):
    return NET_CONFIGS[variant]["training"]["adversarial_rounds"]


def round_zero_twin(wildcards):
    """The net key whose net is this adversarial round 0 ("" if none: round 0 is trained)."""
    if "round" not in wildcards.keys() or wildcards.round != "0":
        return ""
    twin = settings.round_zero_twin(NET_CONFIGS, wildcards.variant, int(wildcards.D))
    return twin or ""


def training_inputs(wildcards):
    """A student's teacher; an adversarial round's predecessor (net, its search)."""
    kind = kind_of(wildcards.variant)
    net = {k: wildcards[k] for k in ("variant", "D", "step", "seed")}
    if kind == "distillation":
        teacher = "results/teachers/{variant}/D{D}_step{step}/seed{seed}".format(**net)
        return {
            "teacher_params": f"{teacher}/params.msgpack",
            "teacher_summary": f"{teacher}/summary.json",
        }
    if kind != "adversarial":
        return {}
    twin = round_zero_twin(wildcards)
    if twin:
        folder = f"results/models/{NET_DIR}".format(**{**net, "variant": twin})
        return {
            "twin_params": f"{folder}/params.msgpack",
            "twin_summary": f"{folder}/summary.json",
            "twin_history": f"{folder}/history.csv",
        }
    this_round = (
        wildcards["round"] if "round" in wildcards.keys() else rounds_of(net["variant"])
    )
    previous = int(this_round) - 1
    if previous < 0:
        return {}
    folder = ROUND_DIR.format(round=previous, **net)
    return {
        "previous_params": f"{folder}/params.msgpack",
        "previous_summary": f"{folder}/summary.json",
        "previous_cube": f"{folder}/search.nc",
    }


def round_search_inputs(wildcards):
    """Round 0's search: the cube of the same net, where the study has one."""
    twin = round_zero_twin(wildcards)
    if not twin:
        return {}
    net = {k: wildcards[k] for k in ("D", "step", "seed")}
    return {"twin_cube": f"results/search/{NET_DIR}.nc".format(variant=twin, **net)}


def round_dir(r):
    """ROUND_DIR of round ``r``, the other wildcards left to fill."""
    return ROUND_DIR.replace("{round}", str(r))


def attack_settings_param(wildcards):
    """Every configured attack's settings: the job runs them all."""
    return as_json(
        {
            method: settings.attack_settings(
                net_config(wildcards), int(wildcards.D), method
            )
            for method in config["attacks"]["methods"]
        }
    )


def attack_paths():
    """Every attack result of every net (none when attacks are off)."""
    if not config["attacks"]["enabled"]:
        return []
    pattern = "results/attacks/{variant}/D{D}_step{step}/seed{seed}/"
    return [
        f"{path}{method}.nc"
        for path in per_seed_paths(pattern)
        for method in config["attacks"]["methods"]
    ]


def extra_training_paths():
    """Training summaries of the lines' teachers and adversarial rounds (their cost counts to the variant)."""
    paths = []
    for v in LINE_KEYS:
        if kind_of(v) == "distillation":
            paths += per_seed_paths(f"results/teachers/{NET_DIR}/summary.json", [v])
        if kind_of(v) == "adversarial":
            for r in range(rounds_of(v)):
                paths += per_seed_paths(f"{round_dir(r)}/summary.json", [v])
    return paths


def aggregate(kind, name):
    """results/<kind>/[<study name>/]<name>: each config's tables, figures and their logs under its own name."""
    root = "logs/aggregate" if kind == "logs" else f"results/{kind}"
    return os.path.join(root, config["name"], name)


TABLES = {
    name: report(
        aggregate("tables", f"{name}.csv"),
        caption=str(REPORT_DIR / f"{name}.rst"),
        category="Tables",
    )
    for name in (
        "table1",
        "rates",
        "rates_per_seed",
        "training",
        "ambiguous",
        "on_manifold",
        "variants",
        "adversarial_rounds",
    )
}
# The scenarios' tables (a study of scenarios besides the lines).
SCENARIO_TABLES = {
    name: report(
        aggregate("tables", f"{name}.csv"),
        caption=str(REPORT_DIR / f"{name}.rst"),
        category="Tables",
    )
    for name in ("scenarios", "scenario_claims")
}
VARIANT_FIGURES = [
    "fig3_adversarial",
    "fig4_likelihood",
    "fig5_heatmaps",
    "fig6_redundancy",
]
STUDY_FIGURES = ["fig2_examples", "variants_rate", "variants_heatmaps"]


def figure_paths(name, caption=None):
    return {
        "png": report(
            aggregate("figures", f"{name}.png"),
            caption=str(REPORT_DIR / (caption or f"{name}.rst")),
            category="Figures",
        ),
        "pdf": aggregate("figures", f"{name}.pdf"),
    }


def all_outputs():
    # Plain paths: the report flags (and captions) belong to the rules' outputs.
    names = [
        f"{v}/{name}" for v in NET_KEYS if VARIANT_SIZES[v] for name in VARIANT_FIGURES
    ]
    tables = scenario_tables = attacks = []
    if LINE_KEYS:
        names += STUDY_FIGURES
        tables = [str(p) for p in TABLES.values()]
        tables.append(aggregate("tables", "provenance.json"))
    if OTHER_SCENARIOS:
        scenario_tables = [str(p) for p in SCENARIO_TABLES.values()]
    figures = [str(p) for name in names for p in figure_paths(name).values()]
    if config["attacks"]["enabled"] and LINE_KEYS:
        attacks = [
            aggregate("tables", "attack_recall.csv"),
            aggregate("figures", "attack_recall.png"),
            aggregate("figures", "attack_recall.pdf"),
        ]
    networks = [str(p) for p in NETWORK_TABLES.values()]
    networks += [str(p) for n in NETWORK_FIGURES for p in figure_paths(n).values()]
    return tables + scenario_tables + figures + attacks + networks


SUMMARIES = "results/summaries/{variant}/D{D}_step{step}/seed{seed}.nc"


FIRST = dict(D=SIZES[0], step=STEPS[0], seed=SEEDS[0])


def first_net(wildcards):
    """Fig. 3 draws the first net of a variant (its smallest fitting D)."""
    scenario = key_scenario(wildcards.variant)
    net = dict(
        variant=wildcards.variant,
        D=VARIANT_SIZES[wildcards.variant][0],
        step=SCENARIO_STEPS[scenario][0],
        seed=SEEDS[0],
    )
    return {
        "dataset": scenarios.dataset_path(scenario, net["D"], net["step"]),
        "cube": "results/search/{variant}/D{D}_step{step}/seed{seed}.nc".format(**net),
        "params": "results/models/{variant}/D{D}_step{step}/seed{seed}/params.msgpack".format(
            **net
        ),
        "summary": "results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json".format(
            **net
        ),
    }


def first_net_settings(wildcards):
    size = VARIANT_SIZES[wildcards.variant][0]
    return as_json(settings.search_settings(net_config(wildcards), size))


def variant_summaries(wildcards):
    return per_seed_paths(SUMMARIES, [wildcards.variant])


# The cross-network analyses (workflow/rules/networks.smk).
NETWORK_TABLES = {
    name: report(
        aggregate("tables", f"{name}.csv"),
        caption=str(REPORT_DIR / f"{name}.rst"),
        category="Across networks",
    )
    for name in ("transfer", "ensembles", "universal", "predictors")
}
NETWORK_FIGURES = ["transfer", "universal_pixels", "predictors"]


def network_paths():
    """One analysis per (scenario, D, step) of the study."""
    return [
        aggregate("analysis", f"{s}/D{d}_step{step}.nc")
        for s in SCENARIOS
        for d in SIZES
        for step in SCENARIO_STEPS[s]
        if any(d in VARIANT_SIZES[k] for k in NET_KEYS if key_scenario(k) == s)
    ]


def scenario_keys(scenario, size):
    """The net keys of a scenario whose nets fit D = ``size``."""
    return [
        k for k in NET_KEYS if key_scenario(k) == scenario and size in VARIANT_SIZES[k]
    ]


def network_inputs(wildcards):
    """Every net of the (scenario, D, step): its cube, checkpoint and training summary."""
    nets = [
        (k, seed)
        for k in scenario_keys(wildcards.scen, int(wildcards.D))
        for seed in SEEDS
    ]
    where = dict(D=wildcards.D, step=wildcards.step)
    return {
        "dataset": scenarios.dataset_path(wildcards.scen, wildcards.D, wildcards.step),
        "cubes": [
            "results/search/{variant}/D{D}_step{step}/seed{seed}.nc".format(
                variant=k, seed=seed, **where
            )
            for k, seed in nets
        ],
        "params": [
            "results/models/{variant}/D{D}_step{step}/seed{seed}/params.msgpack".format(
                variant=k, seed=seed, **where
            )
            for k, seed in nets
        ],
        "summaries": [
            "results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json".format(
                variant=k, seed=seed, **where
            )
            for k, seed in nets
        ],
    }


def network_settings_param(wildcards):
    keys = scenario_keys(wildcards.scen, int(wildcards.D))
    return as_json(
        {k: settings.search_settings(NET_CONFIGS[k], int(wildcards.D)) for k in keys}
    )
