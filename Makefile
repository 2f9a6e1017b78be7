# `make run`: the paper's study and the attacks (config/config.yaml). `make test`: the test suite.
# Both create or reuse .venv with the pinned dependencies first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CORES ?= all
CONFIG ?= config/config.yaml

.PHONY: run paper defences scenarios test test-fast demo lint dag clean bench-search bench-train bench-de

# pip byte-compiles the modules on one core; compileall uses them all
# (the whole install 64 s instead of 82 s on 2 cores).
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --no-compile -e ".[dev]"
	$(VENV)/bin/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
	touch $(STAMP)

# The config is checked first (Snakemake's own YAML error does not name the file),
# merged over config/config.yaml as Snakemake merges it.
run: $(STAMP)
	$(VENV)/bin/python -m onepixel.study.config config/config.yaml $(CONFIG)
	$(VENV)/bin/snakemake --cores $(CORES) --configfile $(CONFIG)

# The paper's study alone, without the optimisation attacks (config/paper.yaml
# on top of config/config.yaml); a later `make run` adds only the attacks.
paper: $(STAMP)
	$(VENV)/bin/python -m onepixel.study.config config/config.yaml config/paper.yaml
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/paper.yaml

# Defences and deeper nets (config/defences.yaml on top of config/config.yaml);
# its tables and figures go to results/{tables,figures}/defences/ (the config's
# `name`), the default study's stay; the paper's nets are shared.
defences: $(STAMP)
	$(VENV)/bin/python -m onepixel.study.config config/config.yaml config/defences.yaml
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/defences.yaml

# Every toy scenario at D in {16, 32, 48}, 5 seeds (config/scenarios.yaml on top of
# config/config.yaml); its tables and figures go to results/{tables,figures}/scenarios/.
scenarios: $(STAMP)
	$(VENV)/bin/python -m onepixel.study.config config/config.yaml config/scenarios.yaml
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/scenarios.yaml

demo: $(STAMP)
	$(VENV)/bin/python -m onepixel.study.config config/config.yaml config/tiny.yaml
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/tiny.yaml

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# The fast loop: everything but the end-to-end runs and large samples, on every core
# (one test file per worker: module fixtures are built once).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow" -n auto --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check onepixel tests workflow/scripts examples benchmarks
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint --configfile config/tiny.yaml

dag: $(STAMP)
	$(VENV)/bin/snakemake --configfile config/tiny.yaml --rulegraph | dot -Tsvg > workflow/report/rulegraph.svg

# Side by side against a git ref: `make bench-search REF=main~3` (default: HEAD, your uncommitted change).
REF ?= HEAD
bench-search: $(STAMP)
	$(VENV)/bin/python benchmarks/search.py --ref $(REF)

bench-train: $(STAMP)
	$(VENV)/bin/python benchmarks/train.py --ref $(REF)

bench-de: $(STAMP)
	$(VENV)/bin/python benchmarks/de.py --ref $(REF)
