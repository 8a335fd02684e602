# lidiff - make ties the compendium together.
#   make all      run every notebook under PROFILE (default quick) into results/$(PROFILE)/
#   make test     run the test suite (add ARGS=--runslow for the slow tests)
#   make paper    make all with PROFILE=paper (the study's settings; needs a GPU/cluster)
#   make paper-plan  resolve the paper profile offline, nothing run: results/paper-plan/plan.md (PLAN_PROFILE=gpu: the gpu profile)
#   make lab      JupyterLab on the notebooks
#   make site     static website of the last make all's notebooks (or PROFILE=...): results/<profile>/site/index.html
#   make embedded-model  retrain the embedded foundation model v2 from SevenNet-0 labels and measure it (long, resumable)
#   make embedded-model-v1  rerun v1's recipe into results/ (the committed v1 file stays unchanged)
#   make reference-models  train, export and measure the committed reference fine-tuned models (long, resumable)
#   make benchmarks  rerun every benchmark (quiet machine) and the README's numbers
#   make pseudos  generate the study's PAW datasets (pslibrary 1.0.0 Li s, F n) with ld1.x into the cache
#   make clean    remove results/ (keeps .venv and data/)
# Both main commands create .venv on first use (torch 2.13.0 CPU first, then the package).

SHELL := /bin/bash
PROFILE ?= quick
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lidiff-installed
OUT := results/$(PROFILE)
HELPERS := $(shell find lidiff_helpers -name '*.py' -o -name '*.yaml' -o -name '*.txt' 2>/dev/null)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%,$(OUT)/notebooks/%,$(NOTEBOOKS))
MODEL := data/models/lidiff-embedded-v2.model
MODEL_V1 := data/models/lidiff-embedded.model
export OMP_NUM_THREADS ?= 2
export MPLBACKEND := Agg

.PHONY: all test paper paper-plan lab site clean install data embedded-model embedded-model-v1 reference-models benchmarks help
.DEFAULT_GOAL := help

help:
	@sed -n '2,14p' Makefile

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -c "from lidiff_helpers.run import ensure_kernel; ensure_kernel()"
	touch $@

install: $(STAMP)

# study data: hash-checked, from $$LIDIFF_DATA_DIR or downloaded from the pinned upstream
data: $(STAMP)
	$(PY) -m lidiff_helpers.data

all: $(OUT)/summary.json

$(OUT)/summary.json: $(EXECUTED)
	$(PY) -c "from pathlib import Path; from lidiff_helpers.run import merge_summary; print(merge_summary(Path('$(OUT)')))"
	echo $(PROFILE) > results/.last-profile

# each executed notebook depends on its source, the helpers, the model and the previous one
$(OUT)/notebooks/%.ipynb: notebooks/%.ipynb $(HELPERS) $(MODEL) $(MODEL_V1) | $(STAMP) data
	$(PY) -m lidiff_helpers.run --profile $(PROFILE) --only $(basename $(notdir $<))
	@touch $@

$(foreach i,$(shell seq 2 $(words $(EXECUTED))),$(eval $(word $(i),$(EXECUTED)): $(word $(shell expr $(i) - 1),$(EXECUTED))))

paper:
	$(MAKE) all PROFILE=paper

# every command, run, input file, missing input and GPU-hour of a profile, without running it
PLAN_PROFILE ?= paper
paper-plan: $(STAMP)
	$(PY) -m lidiff_helpers.runner.plan --profile $(PLAN_PROFILE) --overwrite

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

lab: $(STAMP)
	JUPYTER_PATH=$(VENV)/share/jupyter$${JUPYTER_PATH:+:$$JUPYTER_PATH} $(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# the executed notebooks as a static, offline site (nothing re-executed; run make all first);
# without PROFILE= on the command line: the profile of the last completed make all
SITE_PROFILE := $(if $(filter file,$(origin PROFILE)),$(shell cat results/.last-profile 2>/dev/null || echo $(PROFILE)),$(PROFILE))
site: $(STAMP)
	$(PY) -m lidiff_helpers.runner.site --results results/$(SITE_PROFILE)

# v2 as committed: stage 1 on 1 thread within 8100 CPU-s (spent over several sessions through
# its committed state), then stage 2 (6 epochs, stress weight 100)
embedded-model: $(STAMP)
	$(PY) -m lidiff_helpers.training.embedded_v2 --epochs 80 --threads 1 --cpu-budget-s 8100 --out $(MODEL)
	$(PY) -m lidiff_helpers.workflows.embedded_v2_metrics --model $(MODEL)
	$(PY) -m lidiff_helpers.training.model_cards

embedded-model-v1: $(STAMP)
	$(PY) -m lidiff_helpers.embedded --out results/embedded-training/lidiff-embedded-v1.model

# one model per fine-tuning strategy, 1 CPU-hour each at most (two at a time on 2 cores;
# an interrupted run resumes), exported to data/models/reference/ and measured
reference-models: $(STAMP)
	$(PY) -m lidiff_helpers.training.reference_models
	$(PY) -m lidiff_helpers.workflows.reference_metrics
	$(PY) -m lidiff_helpers.workflows.reference_metrics --learning-curve
	$(PY) -m lidiff_helpers.training.model_cards

# every number in README.md and benchmarks/ comes from these commands (~20 CPU-min + the resumable barrier benchmark, quiet machine)
FT_BENCH := --root results/benchmark-finetune --n-bulk 5 --n-interstitial 50 --n-valid 1 4 \
	--epochs 4 --n-pt 100 --threads 1 --e0s fit
benchmarks: $(STAMP)
	$(PY) benchmarks/bench_msd.py
	$(PY) benchmarks/bench_md.py
	OMP_NUM_THREADS=2 $(PY) benchmarks/bench_force_calls.py
	OMP_NUM_THREADS=2 $(PY) benchmarks/bench_md_batched.py
	OMP_NUM_THREADS=1 $(PY) -m lidiff_helpers.finetune benchmark $(FT_BENCH)
	$(PY) benchmarks/bench_notebooks.py
	$(PY) benchmarks/bench_notebooks.py --profile quick
	$(PY) benchmarks/bench_barriers.py
	$(PY) -m lidiff_helpers.runner.readme_numbers

# the study's PAW datasets, made with Quantum ESPRESSO's ld1.x from pslibrary 1.0.0's parameters
# (reused once made; folder: $$LIDIFF_PSEUDO_DIR or ~/.cache/lidiff/pseudo/pslibrary-1.0.0)
.PHONY: pseudos
pseudos: $(STAMP)
	$(PY) -m lidiff_helpers.training.pseudopotentials

clean:
	rm -rf results
