rule train_model:
    input:
        dataset="results/datasets/D{D}_step{step}.nc",
    output:
        params="results/models/D{D}_step{step}/seed{seed}/params.msgpack",
        history="results/models/D{D}_step{step}/seed{seed}/history.csv",
        summary="results/models/D{D}_step{step}/seed{seed}/summary.json",
    log:
        "logs/train/D{D}_step{step}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/D{D}_step{step}_seed{seed}.tsv"
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        settings=settings_param("training"),
    script:
        "../scripts/train_model.py"
