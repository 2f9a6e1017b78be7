rule make_dataset:
    output:
        dataset="results/datasets/D{D}_step{step}.nc",
    log:
        "logs/dataset/D{D}_step{step}.log",
    benchmark:
        "results/benchmarks/dataset/D{D}_step{step}.tsv"
    priority: longest_first
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings_param("dataset"),
    script:
        "../scripts/make_dataset.py"


# Every other toy scenario: a path level of its own (onepixel.study.scenarios).
rule make_scenario_dataset:
    output:
        dataset="results/datasets/{scenario}/D{D}_step{step}.nc",
    log:
        "logs/dataset/{scenario}/D{D}_step{step}.log",
    benchmark:
        "results/benchmarks/dataset/{scenario}/D{D}_step{step}.tsv"
    priority: longest_first
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings_param("dataset"),
    script:
        "../scripts/make_dataset.py"
