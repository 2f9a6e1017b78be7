rule flip_search:
    input:
        dataset="results/datasets/D{D}_step{step}.nc",
        params="results/models/D{D}_step{step}/seed{seed}/params.msgpack",
        summary="results/models/D{D}_step{step}/seed{seed}/summary.json",
    output:
        cube="results/search/D{D}_step{step}/seed{seed}.nc",
    log:
        "logs/search/D{D}_step{step}_seed{seed}.log",
    benchmark:
        "results/benchmarks/search/D{D}_step{step}_seed{seed}.tsv"
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        settings=settings_param("search"),
    script:
        "../scripts/flip_search.py"


rule summarise_search:
    input:
        dataset="results/datasets/D{D}_step{step}.nc",
        cube="results/search/D{D}_step{step}/seed{seed}.nc",
    output:
        summary="results/summaries/D{D}_step{step}/seed{seed}.nc",
    log:
        "logs/summary/D{D}_step{step}_seed{seed}.log",
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=settings_param("search"),
    script:
        "../scripts/summarise_search.py"
