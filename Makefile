# Attention, from Scratch to GPU: build, test and grade. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXECUTE ?= 0
SUBMISSIONS ?= submissions
GRADEBOOK ?= gradebook
TIMEOUT ?= 60

.PHONY: help setup book test lab exercises grade timings benchmark lint clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
	  { echo "error: Python 3.11 or newer is needed; '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || echo missing). Use: make PYTHON=python3.11 ..."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV) (on Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	@echo "Installing pinned dependencies into $(VENV) (log: $(VENV)/install.log) ..."
	@$(PY) -m pip install -r requirements.txt -c constraints.txt -e . > $(VENV)/install.log 2>&1 || \
	  { echo "error: pip could not install the dependencies (no network to the package index?); last lines of $(VENV)/install.log:"; tail -n 3 $(VENV)/install.log; exit 1; }
	@touch $@

setup: $(STAMP) ## create .venv and install the pinned dependencies and the attnbook package

book: $(STAMP) ## build the HTML book into book/_build/html (EXECUTE=1 re-runs notebooks, cached)
	@$(PY) tools/build_book.py --execute=$(EXECUTE)

test: $(STAMP) ## run the whole suite: unit tests, nbval, exercises, grading, book and browser checks
	@$(PY) -m pytest

lab: $(STAMP) ## open JupyterLab on chapters/
	@$(VENV)/bin/jupyter lab chapters/

exercises: $(STAMP) ## regenerate exercises/ (student versions) from solutions/ with nbgrader
	@$(PY) -m attnbook.grading release

grade: $(STAMP) ## grade a folder of submissions: make grade SUBMISSIONS=dir [GRADEBOOK=dir TIMEOUT=60]
	@$(PY) -m attnbook.grading grade $(SUBMISSIONS) --output $(GRADEBOOK) --timeout $(TIMEOUT)

timings: $(STAMP) ## execute every notebook and print wall time and peak memory per notebook
	@$(PY) tools/timings.py

benchmark: $(STAMP) ## CPU attention benchmark: NumPy vs PyTorch vs F.scaled_dot_product_attention
	@$(PY) benchmarks/attention_cpu.py

lint: $(STAMP) ## ruff over the package, tools, tests and notebooks
	@$(VENV)/bin/ruff check .

clean: ## remove build outputs (keeps .venv)
	rm -rf book/_build .jupyter_cache
