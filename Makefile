# Every target installs what it needs: on a fresh clone `make test` and `make reproduce` run `setup` first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := .stamps/setup
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
export UNLEARN_DATA_MIRROR ?= $(abspath ../shared/data)
export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

SMOKE_REF := tests/smoke_reference
SITE_NOTEBOOKS ?= executed/cpu

.PHONY: help setup lint test unit notebooks dry-run paper-estimate notebooks-kernels refresh-smoke reproduce reproduce-kernels probes bench baselines site site-check lab clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv (Python 3.11) with the exact versions of constraints.txt and the package in editable mode

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[notebooks,test,docs]" 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import unlearn, torch, torchvision, ot, papermill, nbval"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	mkdir -p $(dir $@) && touch $@

lint: $(STAMP) ## ruff (pyflakes, pycodestyle errors, import order, return annotations) on src, tests, tools, benchmarks
	$(BIN)/ruff check src tests tools benchmarks

test: lint unit notebooks ## lint, unit tests, then every notebook at the smoke profile, its numbers checked with written tolerances

# Two xdist workers at one thread each (tests/conftest.py), tests of one xdist_group on one worker; then the tests
# marked `alone`, which compare the checkout before and after and so need no other test writing meanwhile.
unit: $(STAMP) ## unit tests only: two workers, then the few that must run alone
	$(BIN)/pytest tests -q -n 2 --dist loadgroup -m "not alone"
	$(BIN)/pytest -q -m alone $$(grep -l "mark.alone" tests/test_*.py)

# The smoke notebooks run with portable numerics (src/unlearn/numerics.py: every library's kernels pinned to one
# CPU-independent path, one thread each), two at a time so that both cores work; the references were made the same way.
SMOKE_RUN := $(BIN)/python tools/run_notebooks.py --profile smoke --portable --jobs 2
# A second kernel setting for the notebooks that record claims: MKL's and oneDNN's kernels capped at AVX (the
# machine's own: AVX2 or AVX-512) and one thread per notebook, two notebooks at a time (documented switches all;
# ATen's scalar level and MKL's COMPATIBLE path change numbers too, but made notebook 01's MLP training 8x slower).
KERNELS_B := MKL_CBWR=AVX ONEDNN_MAX_CPU_ISA=AVX OMP_NUM_THREADS=1
# 01-03 record the papers' claims; 05 records none, but its ablation verdicts are compared too (tools/compare_settings.py)
CLAIM_NOTEBOOKS := $(filter notebooks/01_% notebooks/02_% notebooks/03_% notebooks/05_%,$(NOTEBOOKS))

notebooks: $(STAMP) ## every notebook at PROFILE=smoke, each from its own empty model cache (so each runs alone); its numbers checked against the references within written tolerances
	rm -rf results/smoke
	$(SMOKE_RUN) --cache-per-notebook build/cache-a --fresh --out build/smoke $(NOTEBOOKS)
	$(BIN)/pytest -q -p no:cacheprovider tests/smoke_results.py

# The paper profile's models and image sizes with one epoch and a few hundred samples (unlearn.profiles.dry_run), so
# that a shape error, device mismatch or missing file shows on a CPU in minutes, not on a GPU after an hour. Nothing
# is written outside build/paper-dry; its timings go to build/paper-dry/results/paper-dry/notebook_times.csv.
DRY := build/paper-dry
dry-run: $(STAMP) ## every notebook at PROFILE=paper-dry (the paper's networks and shapes, a handful of steps), two at a time, each from its own empty model cache
	rm -rf $(DRY)/results $(DRY)/figures
	OMP_NUM_THREADS=1 UNLEARN_RESULTS=$(abspath $(DRY)/results) UNLEARN_SMOKE_FIGURES=$(abspath $(DRY)/figures) \
	  $(BIN)/python tools/run_notebooks.py --profile paper-dry --jobs 2 --cache-per-notebook $(DRY)/cache --fresh --out $(DRY)/executed $(NOTEBOOKS)

paper-estimate: $(STAMP) ## what the paper profile would cost on one GPU: FLOPs per network, its training passes, a rate from the releases' one GPU timing (a minute)
	$(BIN)/python tools/paper_estimate.py

notebooks-kernels: $(STAMP) ## nbval re-runs the smoke references with the machine's own (native) kernels; their numbers against the references (a report)
	rm -rf results/smoke build/cache-b
	UNLEARN_CACHE=$(abspath build/cache-b) $(BIN)/pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider $(SMOKE_REF)/*.ipynb
	mkdir -p build && $(BIN)/python tests/smoke_results.py --report | tee build/smoke-native.txt

reproduce-kernels: $(STAMP) ## the notebooks that decide claims (01-03) and 05's ablation at cpu again under KERNELS_B (build/kernels-b); every verdict compared with results/cpu
	rm -rf build/kernels-b/cache
	$(KERNELS_B) UNLEARN_CACHE=$(abspath build/kernels-b/cache) UNLEARN_RESULTS=$(abspath build/kernels-b/results) \
	  UNLEARN_FIGURES=$(abspath build/kernels-b/figures) $(BIN)/python tools/run_notebooks.py --profile cpu --jobs 2 --out build/kernels-b/executed $(CLAIM_NOTEBOOKS)
	$(BIN)/python tools/compare_settings.py results build/kernels-b/results --names "native,$(KERNELS_B)" \
	  --out build/kernels-b/verdicts.md --save results/cpu/claims_kernels_b.json; $(BIN)/python tools/findings.py

refresh-smoke: $(STAMP) ## re-run the smoke notebooks from an empty model cache and store them and their numbers as the references (on purpose only)
	rm -rf results/smoke
	$(SMOKE_RUN) --cache-per-notebook build/cache-ref --fresh --out build/smoke --keep $(SMOKE_REF) $(NOTEBOOKS)
	rm -rf $(SMOKE_REF)/results && mkdir -p $(SMOKE_REF)/results
	cp results/smoke/*.csv $(SMOKE_REF)/results/ && rm -f $(SMOKE_REF)/results/notebook_times.csv $(SMOKE_REF)/results/cell_times.csv $(SMOKE_REF)/results/claims_table.csv

reproduce: $(STAMP) ## every notebook at the cpu profile, each with its own model cache (.cache/notebooks/<notebook>: it trains what it uses, a rerun reuses it); rewrites figures/, results/cpu/, executed/cpu/ and the README findings
	$(BIN)/python tools/run_notebooks.py --profile cpu --cache-per-notebook .cache/notebooks --out build/cpu --keep executed/cpu $(NOTEBOOKS)
	$(BIN)/python tools/findings.py

probes: $(STAMP) ## the probe scripts whose results notebooks 01-03 read back instead of recomputing (tools/pipeline.py; tens of minutes)
	$(BIN)/python tools/pipeline.py --probes | while read -r cmd; do echo "python $$cmd"; $(BIN)/python $$cmd || exit 1; done

bench: $(STAMP) ## time every method against retraining; writes results/bench.csv and figures/bench.png
	$(BIN)/python benchmarks/run.py

baselines: $(STAMP) ## every baseline on digits (random 10 %, then all of class 3) against retraining -> results/cpu/baselines_digits*.csv
	$(BIN)/python benchmarks/baselines_digits.py --profile cpu
	$(BIN)/python benchmarks/baselines_digits.py --profile cpu --split whole_class

site: $(STAMP) ## the HTML book of the executed notebooks (SITE_NOTEBOOKS=executed/cpu) and the README -> build/site/html
	$(BIN)/python tools/build_site.py --notebooks $(SITE_NOTEBOOKS) --out build/site

site-check: site ## open every page of the book in headless chromium: pages, images, console errors, a screenshot
	$(BIN)/python tools/check_site.py --site build/site

lab: $(STAMP) ## open JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks/

clean: ## remove build outputs and caches (keeps .venv and data/)
	rm -rf build .cache .pytest_cache
