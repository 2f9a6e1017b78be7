import sys
from pathlib import Path

# The workflow's logic lives in the onepixel package at the repository root.
sys.path.insert(0, str(Path(workflow.basedir)))

from onepixel.config import ConfigError, step_name, validate_config
from onepixel import settings

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
CPU_ENV = "../../envs/onepixel-cpu.yaml"
# Report captions, by absolute path: report() resolves them from the top Snakefile.
REPORT_DIR = Path(workflow.basedir) / "workflow" / "report"
# Training and search: the CUDA env on GPU clusters (`--config accelerator=cuda`).
ACCELERATOR_ENV = "../../envs/onepixel-{}.yaml".format(config.get("accelerator", "cpu"))


wildcard_constraints:
    D=r"\d+",
    step=r"\d+\.\d+",
    seed=r"\d+",


def settings_param(kind):
    """A rule's params: the config its results depend on (a change reruns it)."""
    of = {
        "dataset": settings.dataset_settings,
        "training": settings.training_settings,
        "search": settings.search_settings,
    }[kind]
    return lambda wildcards: settings.as_json(of(config, int(wildcards.D)))


def figure_settings_param(wildcards):
    return settings.as_json(
        {str(d): settings.figure_settings(config, d, wildcards.figure) for d in SIZES}
    )


def dataset_paths():
    return [f"results/datasets/D{d}_step{s}.nc" for d, s in COMBOS]


def per_seed_paths(pattern):
    return [pattern.format(D=d, step=s, seed=k) for d, s in COMBOS for k in SEEDS]


TABLES = {
    name: report(
        f"results/tables/{name}.csv",
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
    )
}
FIGURES = [
    "fig2_examples",
    "fig3_adversarial",
    "fig4_likelihood",
    "fig5_heatmaps",
    "fig6_redundancy",
]


def figure_paths(name, caption=None):
    return {
        "png": report(
            f"results/figures/{name}.png",
            caption=str(REPORT_DIR / (caption or f"{name}.rst")),
            category="Figures",
        ),
        "pdf": f"results/figures/{name}.pdf",
    }


def all_outputs():
    # Plain paths: the report flags (and captions) belong to the rules' outputs.
    figures = [str(p) for name in FIGURES for p in figure_paths(name).values()]
    tables = [str(p) for p in TABLES.values()]
    return tables + ["results/tables/provenance.json"] + figures
