# Aggregation and plotting are quick: on a cluster they run on the submit host.
localrules:
    tables,
    scenario_tables,
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
        settings=as_json(
            {v: settings.study_settings(NET_CONFIGS[v]) for v in LINE_KEYS}
        ),
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
        settings=as_json(
            settings.dataset_settings(scenario_config(scenarios.LINES), FIRST["D"])
        ),
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
        settings=as_json(
            {v: settings.study_settings(NET_CONFIGS[v]) for v in LINE_KEYS}
        ),
    script:
        "../scripts/figures.py"


# The scenarios' rate table and the paper's observations checked on each
# (the lines' from their cubes: their summaries are per angle).
rule scenario_tables:
    input:
        datasets=dataset_paths(SCENARIOS),
        summaries=per_seed_paths(
            SUMMARIES, [k for k in NET_KEYS if key_scenario(k) != scenarios.LINES]
        ),
        line_cubes=per_seed_paths(
            "results/search/{variant}/D{D}_step{step}/seed{seed}.nc"
        ),
        training=per_seed_paths(
            "results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json",
            NET_KEYS,
        ),
    output:
        scenarios=SCENARIO_TABLES["scenarios"],
        claims=SCENARIO_TABLES["scenario_claims"],
    log:
        aggregate("logs", "scenario_tables.log"),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=as_json({k: settings.study_settings(NET_CONFIGS[k]) for k in NET_KEYS}),
    script:
        "../scripts/scenario_tables.py"
