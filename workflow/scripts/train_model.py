import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))

from onepixel.study.runtime import start_job  # noqa: E402

start_job(snakemake.threads, eigen_convolutions=True)

from onepixel.study.logs import run_stage  # noqa: E402
from onepixel.study.train_stage import copy_twin_net, train_model  # noqa: E402
from onepixel.study.variants import variant_config  # noqa: E402

given = snakemake.input
role = snakemake.params.role
net_config = variant_config(snakemake.config, snakemake.wildcards.variant)
teacher = (given.teacher_summary, given.teacher_params) if "teacher_params" in given.keys() else None
previous = None
if "previous_params" in given.keys():
    # The variant's net is the round after the last of rounds/.
    last = net_config["training"]["adversarial_rounds"]
    round_index = int(role[len("round") :]) if role.startswith("round") else last
    previous = (
        given.previous_params,
        given.previous_summary,
        given.previous_cube,
        f"round{round_index - 1}",
    )

# What every net of a variant writes, from its D, step and seed.
net_args = (
    int(snakemake.wildcards.D),
    float(snakemake.wildcards.step),
    int(snakemake.wildcards.seed),
    net_config,
    snakemake.output.params,
    snakemake.output.history,
    snakemake.output.summary,
)
if "twin_params" in given.keys():
    # Adversarial round 0 is the study's net of the same training: taken, not trained again.
    twin_paths = (given.twin_summary, given.twin_params, given.twin_history)
    twin_config = variant_config(snakemake.config, snakemake.params.twin)
    stage, args, options = copy_twin_net, (twin_paths, twin_config, *net_args), {}
else:
    stage, args, options = train_model, (given.dataset, *net_args), {"teacher": teacher, "previous": previous}
run_stage(snakemake.log[0], stage, *args, role=role, outputs=snakemake.output, **options)
