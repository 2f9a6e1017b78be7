SUMMARIES = "results/summaries/D{D}_step{step}/seed{seed}.nc"


# Aggregation and plotting are quick: on a cluster they run on the submit host.
localrules:
    tables,
    figure2_examples,
    figure3_adversarial,
    figures_from_summaries,


FIRST = dict(D=SIZES[0], step=STEPS[0], seed=SEEDS[0])


rule tables:
    input:
        datasets=dataset_paths(),
        summaries=per_seed_paths(SUMMARIES),
        training=per_seed_paths(
            "results/models/D{D}_step{step}/seed{seed}/summary.json"
        ),
        paper="resources/table1_paper.csv",
    output:
        **TABLES,
        provenance="results/tables/provenance.json",
    log:
        "logs/aggregate/tables.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=settings.as_json(settings.study_settings(config)),
    script:
        "../scripts/tables.py"


rule figure2_examples:
    input:
        dataset="results/datasets/D{D}_step{step}.nc".format(**FIRST),
    output:
        **figure_paths("fig2_examples"),
    log:
        "logs/aggregate/fig2.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings.as_json(settings.dataset_settings(config, FIRST["D"])),
    script:
        "../scripts/figures.py"


rule figure3_adversarial:
    input:
        dataset="results/datasets/D{D}_step{step}.nc".format(**FIRST),
        cube="results/search/D{D}_step{step}/seed{seed}.nc".format(**FIRST),
        params="results/models/D{D}_step{step}/seed{seed}/params.msgpack".format(
            **FIRST
        ),
        summary="results/models/D{D}_step{step}/seed{seed}/summary.json".format(**FIRST),
    output:
        **figure_paths("fig3_adversarial"),
    log:
        "logs/aggregate/fig3.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=settings.as_json(settings.search_settings(config, FIRST["D"])),
    script:
        "../scripts/figures.py"


rule figures_from_summaries:
    input:
        summaries=per_seed_paths(SUMMARIES),
    output:
        **figure_paths("{figure}", caption="figures.rst"),
    log:
        "logs/aggregate/{figure}.log",
    wildcard_constraints:
        figure="fig4_likelihood|fig5_heatmaps|fig6_redundancy",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=figure_settings_param,
    script:
        "../scripts/figures.py"
