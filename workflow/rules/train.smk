rule train_model:
    input:
        unpack(training_inputs),
        dataset=dataset_input,
    output:
        params="results/models/{variant}/D{D}_step{step}/seed{seed}/params.msgpack",
        history="results/models/{variant}/D{D}_step{step}/seed{seed}/history.csv",
        summary="results/models/{variant}/D{D}_step{step}/seed{seed}/summary.json",
    log:
        "logs/train/{variant}/D{D}_step{step}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{variant}/D{D}_step{step}_seed{seed}.tsv"
    priority: longest_first
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        settings=settings_param("training"),
        role="net",
    script:
        "../scripts/train_model.py"


# Defensive distillation: the teacher, trained at the variant's temperature.
rule train_teacher:
    input:
        dataset=dataset_input,
    output:
        params="results/teachers/{variant}/D{D}_step{step}/seed{seed}/params.msgpack",
        history="results/teachers/{variant}/D{D}_step{step}/seed{seed}/history.csv",
        summary="results/teachers/{variant}/D{D}_step{step}/seed{seed}/summary.json",
    log:
        "logs/teacher/{variant}/D{D}_step{step}_seed{seed}.log",
    benchmark:
        "results/benchmarks/teacher/{variant}/D{D}_step{step}_seed{seed}.tsv"
    priority: longest_first
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        settings=settings_param("training", "teacher"),
        role="teacher",
    script:
        "../scripts/train_model.py"


# Adversarial training: rounds 0 .. R-1 (round R is the variant's net, above).
rule train_round:
    input:
        unpack(training_inputs),
        dataset=dataset_input,
    output:
        params="results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}/params.msgpack",
        history="results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}/history.csv",
        summary="results/rounds/{variant}/D{D}_step{step}/seed{seed}/round{round}/summary.json",
    log:
        "logs/round/{variant}/D{D}_step{step}_seed{seed}_round{round}.log",
    benchmark:
        "results/benchmarks/round/{variant}/D{D}_step{step}_seed{seed}_round{round}.tsv"
    priority: longest_first
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        settings=settings_param("training", "round"),
        role=lambda wc: f"round{wc.round}",
        # Round 0 is the net of a variant with the same training, where the study has one.
        twin=round_zero_twin,
    script:
        "../scripts/train_model.py"
