# The configured attacks of one net in one job (the net, dataset and cube read
# once), one result file per attack.
rule attack:
    input:
        dataset=dataset_input,
        cube="results/search/{variant}/D{D}_step{step}/seed{seed}.nc",
        params="results/models/{variant}/D{D}_step{step}/seed{seed}/params.msgpack",
        summary="results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json",
    output:
        **{
            method: f"results/attacks/{{variant}}/D{{D}}_step{{step}}/seed{{seed}}/{method}.nc"
            for method in config["attacks"]["methods"]
        },
    log:
        "logs/attack/{variant}/D{D}_step{step}_seed{seed}.log",
    benchmark:
        "results/benchmarks/attack/{variant}/D{D}_step{step}_seed{seed}.tsv"
    priority: longest_first
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        settings=attack_settings_param,
    script:
        "../scripts/attack.py"


rule attack_tables:
    input:
        attacks=attack_paths(),
    output:
        table=report(
            aggregate("tables", "attack_recall.csv"),
            caption="../report/attack_recall.rst",
            category="Attacks",
        ),
        png=report(
            aggregate("figures", "attack_recall.png"),
            caption="../report/attack_recall_figure.rst",
            category="Attacks",
        ),
        pdf=aggregate("figures", "attack_recall.pdf"),
    log:
        aggregate("logs", "attack_recall.log"),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=as_json(config["attacks"]),
    script:
        "../scripts/attack_tables.py"
