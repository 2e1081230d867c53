# gcnn: `make help` lists the targets; those that run gcnn install it first (into .venv, or check the PY given).
# Overrides: SEEDS=0,1,2 ARGS="trainer=quick hydra/launcher=joblib" RESULTS=results PORTABLE=1, PY=python3 (one
# that has the packages: no .venv is made), WHEELHOUSE=dir (install offline from the wheels of `make wheelhouse`).
SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     ?= $(VENV)/bin/python
OWN_VENV := $(filter file,$(origin PY))
# gcnn is read from this checkout's src/ whichever interpreter runs it.
export PYTHONPATH := $(CURDIR)/src$(if $(PYTHONPATH),:$(PYTHONPATH))
SEEDS  ?= 0,1,2
RESULTS ?= results
# PORTABLE=1 (on for `make demo`): gcnn runs under `python -m gcnn_study.process.portable --` (docs/reproducibility.md).
PORTABLE ?= $(if $(filter demo,$(MAKECMDGOALS)),1,0)
export PORTABLE
RUN    := $(if $(filter 1,$(PORTABLE)),$(PY) -m gcnn_study.process.portable -- )$(PY)
TRAIN  := $(RUN) -m gcnn_study.train --multirun paths.results_dir=$(RESULTS)
TABLE  = $(RUN) -m gcnn_study.report.tables --results-dir $(RESULTS) --seeds $(SEEDS) --command "make $@ SEEDS=$(SEEDS) RESULTS=$(RESULTS) ARGS='$(ARGS)'"
# A Hydra multirun per sweep gcnn_study.config.specs lists, then the table (listing failed runs, after which make fails).
SWEEPS = for exp in $(1); do sweeps=$$($(PY) -m gcnn_study.config.specs $$exp --sweeps) || exit 1; \
	  while read -r -u3 sweep; do $(TRAIN) experiment=$$exp $$sweep seed=$(SEEDS) $(ARGS) || status=$$?; done 3<<<"$$sweeps"; \
	done; $(TABLE) $(1); exit $${status:-0}
GIVEN = $(if $(filter command line environment,$(origin RESULTS)),$(RESULTS),$(1))

.PHONY: help install py-check portable-reference test lint format test-full test-gpu demo table1 table2 table3 table4 tables \
	ablation-p6 head-comparison head-comparison-full reproduce bench bench-train wheelhouse claims ablation-report figures readme-results clean
help: ## list the targets
	@grep -E '^[a-z0-9 -]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{gsub(/ /, "|", $$1); printf "  make %-12s %s\n", $$1, $$2}'

# With WHEELHOUSE the venv sees the interpreter's own packages (torch, ...) and takes the rest from the folder.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(if $(WHEELHOUSE),--system-site-packages) $(VENV)
	$(if $(WHEELHOUSE),,$(PY) -m pip install -q --upgrade pip)
	$(PY) -m pip install -q $(if $(WHEELHOUSE),--no-index --find-links $(abspath $(WHEELHOUSE))) -e '.[dev]'
	touch $@
# PY=...: install WHEELHOUSE's wheels (--no-deps: SKIP= left out what runs don't use), check that gcnn's needs import.
py-check: ## check that PY has gcnn's packages (install runs it when PY is given)
	$(if $(WHEELHOUSE),$(PY) -m pip install -q --no-index --no-deps $(abspath $(WHEELHOUSE))/*.whl)
	@$(PY) scripts/check_packages.py --skip '$(SKIP)'
install: $(if $(OWN_VENV),$(VENV)/.installed,py-check) ## create .venv and install gcnn (PY=python3: use that interpreter; WHEELHOUSE=dir: offline)
portable-reference: install ## record this processor's portable-mode fingerprint (tests/reference/fingerprints/), print the claim of docs/reproducibility.md
	$(RUN) tests/gcnn_study/test_portable.py --regenerate
test: install ## run the default test suite (slow tests excluded)
	$(RUN) -m pytest
lint: install ## ruff: lint and format check (as CI and the pre-commit hooks run them)
	$(PY) -m ruff check src tests scripts && $(PY) -m ruff format --check src tests scripts
format: install ## ruff: fix what can be fixed and format the code
	$(PY) -m ruff check --fix src tests scripts && $(PY) -m ruff format src tests scripts
test-full: install ## run every test, slow ones included
	$(RUN) -m pytest -m ''
test-gpu: install ## the GPU tests (tests marked gpu; they skip on a machine without CUDA)
	$(RUN) -m pytest -m gpu
# The library alone, as a user would take it: a throw-away venv with torch (the CPU wheel, ~190 MB) and numpy only,
# gcnn read from src/. Needs the network; not part of `make test` (tests/gcnn/test_library_standalone.py is its offline twin).
.PHONY: library-check
library-check: ## the library alone: a fresh venv with only torch (CPU) and numpy, then import gcnn and python -m gcnn.check
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && $(PYTHON) -m venv "$$tmp/venv" \
	  && env -u PYTHONPATH "$$tmp/venv/bin/python" -m pip install -q --index-url https://download.pytorch.org/whl/cpu torch \
	  && env -u PYTHONPATH "$$tmp/venv/bin/python" -m pip install -q numpy && env -u PYTHONPATH "$$tmp/venv/bin/python" -m pip list \
	  && cd "$$tmp" && PYTHONPATH='$(CURDIR)/src' "$$tmp/venv/bin/python" -c "import gcnn" \
	  && PYTHONPATH='$(CURDIR)/src' "$$tmp/venv/bin/python" -m gcnn.check
DEMO = --no-print-directory RESULTS=results/demo SEEDS=0
demo: install ## Tables 1-4 at small scale on data that needs no download (< 10 min on 2 CPUs)
	$(MAKE) $(DEMO) table1 ARGS="dataset=mnist_sample trainer=quick $(ARGS)"
	$(MAKE) $(DEMO) table2 ARGS="dataset=rot_mnist_sample trainer=quick $(ARGS)"
	$(MAKE) $(DEMO) table3 ARGS="dataset=ph2_synthetic trainer=quick_seg $(ARGS)"
	$(MAKE) $(DEMO) table4 ARGS="dataset=ph2_synthetic dataset.size=33 trainer=quick_seg $(ARGS)"
tables: table1 table2 table3 table4 ## all four tables, one after the other
table1 table2 table3 table4: table%: install ## one table: table1 (MNIST), table2 (Rot-MNIST), table3, table4 (PH2)
	$(call SWEEPS,$@)
ablation-p6: install ## P6 ablation: pixel or harmonic filters, exact or interpolated, on the Table 1 and 2 protocols
	$(call SWEEPS,ablation_p6_table1 ablation_p6_table2)
# Seed-major and resumable (docs/running.md). Trials: TABLES=table1,table3 MODELS=cnn,segnet+ CLS_ARGS= SEG_ARGS=
reproduce: install ## all four tables at the study's protocol (BUDGET_MIN=, JOBS=, MEMORY_GIB=, PY=); rerun to continue
	$(RUN) -m gcnn_study.reproduce --results-dir '$(call GIVEN,results/full)' --seeds '$(SEEDS)' --models '$(MODELS)' \
	  $(if $(TABLES),--tables '$(TABLES)') $(if $(JOBS),--jobs '$(JOBS)') --budget-min '$(BUDGET_MIN)' --args '$(ARGS)' \
	  $(if $(MEMORY_GIB),--memory-gib '$(MEMORY_GIB)') \
	  --cls-args '$(CLS_ARGS)' --seg-args '$(SEG_ARGS)' \
	  --command "make reproduce SEEDS=$(SEEDS)$(if $(ARGS), ARGS='$(ARGS)')$(if $(CLS_ARGS), CLS_ARGS='$(CLS_ARGS)')$(if $(SEG_ARGS), SEG_ARGS='$(SEG_ARGS)')"
# The segmentation issue's cheap test: the notebook's output block against a 1×1 head, only model.head differing.
HEADS_RESULTS = $(call GIVEN,results/head_65px)
head-comparison: install ## SegNet_T and D4SegNet_T with the notebook's output block or a 1x1 head, 65x65 PH2, 40 epochs, SEEDS
	for pair in notebook:conv_relu_bn conv1x1:conv1x1; do $(RUN) -m gcnn_study.train --multirun experiment=table4 \
	  experiment_name=head_$${pair%%:*} model=segnet_t,d4segnet_t model.head=$${pair##*:} seed=$(SEEDS) dataset.size=65 \
	  paths.results_dir=$(HEADS_RESULTS) $(ARGS) || exit 1; done
	$(RUN) scripts/head_comparison.py --results-dir $(HEADS_RESULTS) --command "make head-comparison SEEDS=$(SEEDS) ARGS='$(ARGS)'"
bench: install ## benchmark the group layers against a per-element loop and a plain conv2d floor
	$(RUN) scripts/benchmark_layers.py --out results/bench
head-comparison-full: install ## the same comparison at full size: Tables 3-4 against their 1x1-head records (RESULTS)
	$(RUN) scripts/head_comparison.py --results-dir $(call GIVEN,results/full) --at full --command "make head-comparison-full"
readme-results: install ## the README's Results block (Tables 1-4 beside the study's) from RESULTS (default results/full)
	$(RUN) -m gcnn_study.report.tables --readme README.md --results-dir $(call GIVEN,results/full)

bench-train: install ## trainer vs bare-step images/s, memory and projected table times of every model (DEVICE=, BENCH_ARGS=)
	$(RUN) scripts/benchmark_training.py --device $(or $(DEVICE),auto) $(BENCH_ARGS)

# For an offline machine (docs/running.md): PYVER= its Python (default: PYTHON's), PLATFORM= its pip tags.
HAVE ?= torch torchvision pandas matplotlib opencv-python opencv-python-headless joblib
EXTRAS ?= dev
wheelhouse: ## download the wheels an offline machine lacks into WHEELHOUSE (PYVER=, PLATFORM=, HAVE=, SKIP=, EXTRAS=)
	@test -n "$(WHEELHOUSE)" || { echo "error: give the folder, e.g. make wheelhouse WHEELHOUSE=.whl" >&2; exit 2; }
	$(PYTHON) scripts/wheelhouse.py --dest '$(WHEELHOUSE)' $(if $(PYVER),--python-version '$(PYVER)') \
	  $(if $(PLATFORM),--platform '$(PLATFORM)') --have '$(HAVE)' --skip '$(SKIP)' --extras '$(EXTRAS)'
claims: install ## check the study's claims against the tables of RESULTS (written to RESULTS/claims.md)
	$(RUN) -m gcnn_study.report.claims --results-dir $(RESULTS)
ablation-report: install ## the P6 ablation's comparisons and tables from RESULTS/ablation_p6_table*.csv (RESULTS/ablation_p6.csv, .md)
	$(RUN) -m gcnn_study.report.ablation --results-dir $(RESULTS)
figures: install ## Figures 1-3 and reports of RESULTS (default results/demo, made first if a run is missing; FIG_ARGS=)
	@if [ "$(call GIVEN,results/demo)" = results/demo ] && [ "$$(find results/demo/runs -name metrics.json 2>/dev/null \
	  | wc -l)" -lt "$$($(PY) -m gcnn_study.config.specs --count table1 table2 table3 table4)" ]; then $(MAKE) --no-print-directory demo PORTABLE=1; fi
	$(RUN) -m gcnn_study.report.figures --results-dir $(call GIVEN,results/demo) $(FIG_ARGS)
clean: ## remove caches (keeps .venv, data and results)
	rm -rf .pytest_cache src/*.egg-info; find . -name __pycache__ -prune -exec rm -rf {} +
