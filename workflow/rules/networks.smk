# Exact cross-network analyses of the complete sets: per (scenario, D, step)
# every net's cube read once (transfer, ensembles, universal pixels,
# predictors), then the study's tables and figures.
localrules:
    network_tables,


rule analyse_networks:
    input:
        unpack(network_inputs),
    output:
        analysis=aggregate("analysis", "{scen}/D{D}_step{step}.nc"),
    log:
        aggregate("logs", "analysis/{scen}/D{D}_step{step}.log"),
    benchmark:
        aggregate("benchmarks", "analysis/{scen}/D{D}_step{step}.tsv")
    wildcard_constraints:
        scen="|".join(SCENARIOS),
    priority: longest_first
    conda:
        ACCELERATOR_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        settings=network_settings_param,
    script:
        "../scripts/analyse_networks.py"


rule network_tables:
    input:
        analyses=network_paths(),
    output:
        **NETWORK_TABLES,
        **{
            f"{name}_{kind}": path
            for name in NETWORK_FIGURES
            for kind, path in figure_paths(name, f"{name}_figure.rst").items()
        },
    log:
        aggregate("logs", "network_tables.log"),
    conda:
        CPU_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        universal_share=config["analysis"]["universal_share"],
        reference=variants.reference_variant(config),
    script:
        "../scripts/network_tables.py"
