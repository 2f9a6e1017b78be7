import sys
from pathlib import Path

# The workflow's logic lives in the onepixel package at the repository root.
sys.path.insert(0, str(Path(workflow.basedir)))

from onepixel.config import step_name, validate_config

validate_config(config)

SIZES = config["sizes"]
STEPS = [step_name(s) for s in config["angle_steps"]]
SEEDS = config["seeds"]
COMBOS = [(d, s) for d in SIZES for s in STEPS]
CPU_ENV = "../../envs/onepixel-cpu.yaml"


wildcard_constraints:
    D=r"\d+",
    step=r"\d+\.\d+",
    seed=r"\d+",


def dataset_paths():
    return [f"results/datasets/D{d}_step{s}.nc" for d, s in COMBOS]


def per_seed_paths(pattern):
    return [pattern.format(D=d, step=s, seed=k) for d, s in COMBOS for k in SEEDS]


TABLES = {
    name: f"results/tables/{name}.csv"
    for name in ("table1", "rates", "rates_per_seed", "training", "ambiguous")
}
FIGURES = [
    "fig2_examples",
    "fig3_adversarial",
    "fig4_likelihood",
    "fig5_heatmaps",
    "fig6_redundancy",
]


def figure_paths(name):
    return {
        "png": f"results/figures/{name}.png",
        "pdf": f"results/figures/{name}.pdf",
    }


def all_outputs():
    figures = [p for name in FIGURES for p in figure_paths(name).values()]
    return list(TABLES.values()) + ["results/tables/provenance.json"] + figures
