rule flip_search:
    input:
        dataset=dataset_input,
        params="results/models/{variant}/D{D}_step{step}/seed{seed}/params.msgpack",
        summary="results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json",
    output:
        cube="results/search/{variant}/D{D}_step{step}/seed{seed}.nc",
        # The per-net counts of the tables and Fig. 4-6, from the cube in memory.
        summary=SUMMARIES,
    log:
        "logs/search/{variant}/D{D}_step{step}_seed{seed}.log",
    benchmark:
        "results/benchmarks/search/{variant}/D{D}_step{step}_seed{seed}.tsv"
    priority: longest_first
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        settings=settings_param("search"),
        role="net",
    script:
        "../scripts/flip_search.py"


# Adversarial training: the exhaustive search of a round's net gives the next round's flips.
rule search_round:
    input:
        unpack(round_search_inputs),
        dataset=dataset_input,
        params="results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}/params.msgpack",
        summary="results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}/summary.json",
    output:
        cube="results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}/search.nc",
    log:
        "logs/round/{variant}/D{D}_step{step}_seed{seed}_round{round}_search.log",
    benchmark:
        "results/benchmarks/round_search/{variant}/D{D}_step{step}_seed{seed}_round{round}.tsv"
    priority: longest_first
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        settings=settings_param("search", "round"),
        role=lambda wc: f"round{wc.round}",
        twin=round_zero_twin,
    script:
        "../scripts/flip_search.py"
