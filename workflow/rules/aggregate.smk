# Aggregation and plotting are quick: on a cluster they run on the submit host.
localrules:
    tables,
    figure2_examples,
    figure3_adversarial,
    figures_from_summaries,
    figures_of_variants,


rule tables:
    input:
        datasets=dataset_paths(),
        summaries=per_seed_paths(SUMMARIES),
        training=per_seed_paths(
            "results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json"
        ),
        extra_training=extra_training_paths(),
        paper="resources/table1_paper.csv",
    output:
        **TABLES,
        provenance=aggregate("tables", "provenance.json"),
    log:
        aggregate("logs", "tables.log"),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=as_json({v: settings.study_settings(NET_CONFIGS[v]) for v in VARIANTS}),
    script:
        "../scripts/tables.py"


rule figure2_examples:
    input:
        dataset="results/datasets/D{D}_step{step}.nc".format(**FIRST),
    output:
        **figure_paths("fig2_examples"),
    log:
        aggregate("logs", "fig2.log"),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=as_json(settings.dataset_settings(config, FIRST["D"])),
    script:
        "../scripts/figures.py"


rule figure3_adversarial:
    input:
        unpack(first_net),
    output:
        **figure_paths("{variant}/fig3_adversarial", caption="fig3_adversarial.rst"),
    log:
        aggregate("logs", "{variant}/fig3.log"),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=first_net_settings,
    script:
        "../scripts/figures.py"


rule figures_from_summaries:
    input:
        summaries=variant_summaries,
    output:
        **figure_paths("{variant}/{figure}", caption="figures.rst"),
    log:
        aggregate("logs", "{variant}/{figure}.log"),
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


rule figures_of_variants:
    input:
        summaries=per_seed_paths(SUMMARIES),
    output:
        **figure_paths("{figure}", caption="variants_figures.rst"),
    log:
        aggregate("logs", "{figure}.log"),
    wildcard_constraints:
        figure="variants_rate|variants_heatmaps",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=as_json({v: settings.study_settings(NET_CONFIGS[v]) for v in VARIANTS}),
    script:
        "../scripts/figures.py"
