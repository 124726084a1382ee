# Attention, from Scratch to GPU: build, test and grade. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXECUTE ?= 0
EDITION ?= student
SUBMISSIONS ?= submissions
GRADEBOOK ?= gradebook
SOLUTIONS ?= solutions
TIMEOUT ?= 60
TOTAL_TIMEOUT ?= 600
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
NO_SANDBOX ?= 0
INSTRUCTOR ?= 0

.PHONY: help setup book test lab exercises grade timings benchmark benchmark-grading lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
	  { echo "error: Python 3.11 or newer is needed; '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || echo missing). Use: make PYTHON=python3.11 ..."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV) (on Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	@echo "Installing pinned dependencies into $(VENV) (log: $(VENV)/install.log) ..."
	@$(PY) -m pip install -r requirements.txt -c constraints.txt -e . > $(VENV)/install.log 2>&1 || \
	  { echo "error: pip could not install the dependencies (no network to the package index?); last lines of $(VENV)/install.log:"; tail -n 3 $(VENV)/install.log; exit 1; }
	@touch $@

setup: $(STAMP) ## create .venv and install the pinned dependencies and the attnbook package

book: $(STAMP) ## build the student book into book/_build/html (EDITION=instructor: with solutions; EXECUTE=1)
	@$(PY) tools/build_book.py --execute=$(EXECUTE) --edition=$(EDITION)

test: $(STAMP) ## run the whole suite: unit tests, nbval, exercises, grading, book and browser checks
	@$(PY) -m pytest

lab: $(STAMP) ## open JupyterLab on the repository (INSTRUCTOR=1 shows nbgrader's instructor tools)
	@if [ "$(INSTRUCTOR)" = 1 ]; then \
	  $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)"; \
	else \
	  JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	    $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)"; \
	fi

exercises: $(STAMP) ## regenerate exercises/ (student versions) from solutions/ with nbgrader
	@$(PY) -m attnbook.grading release

grade: $(STAMP) ## grade submissions in a sandbox: make grade SUBMISSIONS=dir [GRADEBOOK=dir JOBS=N TIMEOUT=60]
	@$(PY) -m attnbook.grading grade "$(SUBMISSIONS)" --output "$(GRADEBOOK)" --solutions "$(SOLUTIONS)" \
	  --timeout $(TIMEOUT) --total-timeout $(TOTAL_TIMEOUT) --jobs $(JOBS) $(if $(filter 1,$(NO_SANDBOX)),--no-sandbox)

timings: $(STAMP) ## execute every notebook and print wall time and peak memory per notebook
	@$(PY) tools/timings.py

benchmark: $(STAMP) ## CPU attention benchmark: NumPy, PyTorch, F.scaled_dot_product_attention, flash_attention
	@$(PY) benchmarks/attention_cpu.py

benchmark-grading: $(STAMP) ## grade 50 generated submissions with JOBS=1 and JOBS=2; print the figures
	@$(PY) benchmarks/grading.py

lint: $(STAMP) ## ruff over the package, tools, tests and notebooks
	@$(VENV)/bin/ruff check .

clean: ## remove build outputs (keeps .venv)
	rm -rf book/_build .jupyter_cache
