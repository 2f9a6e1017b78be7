"""The Snakemake study: config, settings, variants, provenance, result files, stages, tables, figures.

Only the workflow imports this package; nothing else in ``onepixel`` does.
"""
