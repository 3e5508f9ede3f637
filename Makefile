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

.PHONY: help setup lint test unit notebooks notebooks-kernels refresh-smoke reproduce bench baselines site site-check lab clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv (Python 3.11) with the pinned packages and the package in editable mode

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[notebooks,test,docs]" 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import unlearn, torch, torchvision, ot, papermill, nbval"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	mkdir -p $(dir $@) && touch $@

lint: $(STAMP) ## ruff (pyflakes, pycodestyle errors, import order, return annotations) on src, tests, tools, benchmarks
	$(BIN)/ruff check src tests tools benchmarks

test: lint unit notebooks ## lint, unit tests, then every notebook at the smoke profile, its numbers checked with written tolerances

unit: $(STAMP) ## unit tests only
	$(BIN)/pytest tests -q

# A second kernel setting: ATen's kernels at their scalar "default" level instead of AVX2/AVX-512, and MKL's
# conditional numerical reproducibility in compatible mode (both documented switches).
KERNELS_B := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE

notebooks: $(STAMP) ## every notebook at PROFILE=smoke from an empty model cache; its numbers checked against the references within written tolerances
	rm -rf results/smoke build/cache-a
	UNLEARN_CACHE=$(abspath build/cache-a) $(BIN)/python tools/run_notebooks.py --profile smoke --out build/smoke $(NOTEBOOKS)
	$(BIN)/pytest -q -p no:cacheprovider tests/smoke_results.py

notebooks-kernels: $(STAMP) ## nbval re-runs the smoke references under the second kernel setting; their numbers against the references (a report)
	rm -rf results/smoke build/cache-b
	$(KERNELS_B) UNLEARN_CACHE=$(abspath build/cache-b) $(BIN)/pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider $(SMOKE_REF)/*.ipynb
	$(BIN)/python tests/smoke_results.py --report | tee build/smoke-kernels-b.txt

refresh-smoke: $(STAMP) ## re-run the smoke notebooks from an empty model cache and store them and their numbers as the references (on purpose only)
	rm -rf results/smoke build/cache-ref
	UNLEARN_CACHE=$(abspath build/cache-ref) $(BIN)/python tools/run_notebooks.py --profile smoke --out build/smoke --keep $(SMOKE_REF) $(NOTEBOOKS)
	rm -rf $(SMOKE_REF)/results && mkdir -p $(SMOKE_REF)/results
	cp results/smoke/*.csv $(SMOKE_REF)/results/ && rm -f $(SMOKE_REF)/results/notebook_times.csv $(SMOKE_REF)/results/claims_table.csv

reproduce: $(STAMP) ## every notebook at the cpu profile; rewrites figures/, results/cpu/, executed/cpu/ and the README findings
	$(BIN)/python tools/run_notebooks.py --profile cpu --out build/cpu --keep executed/cpu $(NOTEBOOKS)
	$(BIN)/python tools/findings.py

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
