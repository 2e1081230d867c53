# gcnn — every target installs the virtual environment first, so a fresh clone needs nothing else.
# Overrides:  SEEDS=0,1,2   ARGS="trainer=quick hydra/launcher=joblib"   RESULTS=results
SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SEEDS  ?= 0,1,2
ARGS   ?=
RESULTS ?= results
TRAIN  := $(PY) -m gcnn.train --multirun paths.results_dir=$(RESULTS)
# A sweep with failed runs still gets its table (listing them), then make fails: `|| status=$$?`.
SWEEP_END = ; exit $${status:-0}
TABLE  = $(PY) -m gcnn.tables --results-dir $(RESULTS) --seeds $(SEEDS) --command "make $@ SEEDS=$(SEEDS) RESULTS=$(RESULTS) ARGS='$(ARGS)'"

CLS_MODELS := cnn,p4cnn,p6cnn,p8cnn,d4cnn
SEG_MODELS := segnet,p4segnet,d4segnet
SEG_AUG_MODELS := segnet,p4segnet
SEG_T_MODELS := segnet_t,p4segnet_t,d4segnet_t

.PHONY: help install test test-full demo table1 table2 table3 table4 tables bench clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create .venv and install gcnn (editable, with dev extras)

test: install ## run the default test suite (slow tests excluded)
	$(PY) -m pytest

test-full: install ## run every test, slow ones included
	$(PY) -m pytest -m ''

demo: install ## Tables 1-4 at small scale on data that needs no download (< 10 min on 2 CPUs)
	$(MAKE) --no-print-directory table1 RESULTS=results/demo SEEDS=0 ARGS="dataset=mnist_sample trainer=quick $(ARGS)"
	$(MAKE) --no-print-directory table2 RESULTS=results/demo SEEDS=0 ARGS="dataset=rot_mnist_sample trainer=quick $(ARGS)"
	$(MAKE) --no-print-directory table3 table4 RESULTS=results/demo SEEDS=0 ARGS="dataset=ph2_synthetic trainer=quick_seg $(ARGS)"

table1: install ## Table 1: the five classifiers trained on MNIST, tested upright and transformed
	$(TRAIN) experiment=table1 model=$(CLS_MODELS) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table1 $(SWEEP_END)

table2: install ## Table 2: the five classifiers trained and tested on Rot-MNIST
	$(TRAIN) experiment=table2 model=$(CLS_MODELS) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table2 $(SWEEP_END)

table3: install ## Table 3: SegNet, P4SegNet, D4SegNet and the augmented SegNet+, P4SegNet+ on PH2
	$(TRAIN) experiment=table3 model=$(SEG_MODELS) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TRAIN) experiment=table3 model=$(SEG_AUG_MODELS) dataset.augment=true seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table3 $(SWEEP_END)

table4: install ## Table 4: the transposed-convolution SegNets on PH2
	$(TRAIN) experiment=table4 model=$(SEG_T_MODELS) seed=$(SEEDS) $(ARGS) || status=$$?; \
	$(TABLE) table4 $(SWEEP_END)

tables: table1 table2 table3 table4 ## all four tables

bench: install ## benchmark the group layers (forward/backward time per layer and group)
	$(PY) scripts/benchmark_layers.py

clean: ## remove caches (keeps .venv, data and results)
	rm -rf .pytest_cache src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +

# ------------------------------------------------------------------------------------------------ figures
# make figures [RESULTS=<folder>] [FIG_ARGS="--n-images 200 --device cpu"]. Without RESULTS on the command line it
# draws results/demo, running `make demo` first (which resumes or skips finished runs) when a demo run is missing.
comma := ,
FIG_RESULTS = $(if $(filter command line environment,$(origin RESULTS)),$(RESULTS),results/demo)
FIG_ARGS ?=
DEMO_METRICS := $(foreach e,table1 table2,$(foreach m,$(subst $(comma), ,$(CLS_MODELS)),results/demo/runs/$(e)/$(m)/seed=0/metrics.json)) \
	$(foreach m,$(subst $(comma), ,$(SEG_MODELS)),results/demo/runs/table3/$(m)/seed=0/metrics.json) \
	$(foreach m,$(subst $(comma), ,$(SEG_AUG_MODELS)),results/demo/runs/table3/$(m)+/seed=0/metrics.json) \
	$(foreach m,$(subst $(comma), ,$(SEG_T_MODELS)),results/demo/runs/table4/$(m)/seed=0/metrics.json)

.PHONY: figures
figures: install ## Figures 1-3, accuracy vs angle, equivariance report, training curves of RESULTS (default results/demo)
	$(if $(and $(filter results/demo,$(FIG_RESULTS)),$(filter-out $(wildcard $(DEMO_METRICS)),$(DEMO_METRICS))),$(MAKE) --no-print-directory demo)
	$(PY) -m gcnn.figures --results-dir $(FIG_RESULTS) $(FIG_ARGS)
