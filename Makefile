# Two entry points (see README):  make figures  |  make test
# Both set up the virtual environment first (idempotent: re-run only when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# PRESET: the preset of make figures (SCALE, its older name, is still read)
SCALE ?= regime
PRESET ?= $(SCALE)

.PHONY: setup figures test lint notebooks-sync bench clean-cache

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (karaoke)" >/dev/null
	touch $@

setup: $(VENV)/.installed

## main job: every notebook through papermill at PRESET (default regime), writing figures/
figures: setup
	$(PY) -m karaoke.notebooks --preset $(PRESET)

## tests: unit tests, then nbval over the committed notebooks (preset ci; their networks trained side by side first)
test: setup
	$(PY) -m pytest -q tests
	$(PY) -m karaoke.notebooks --preset ci --train-only
	$(PY) -m pytest -q --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

## lint: ruff's checks (pyflakes, pycodestyle, import order) and its formatter, as configured in pyproject.toml
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## regenerate the .ipynb of every notebook from its .py source and execute it at the ci preset
notebooks-sync: setup
	$(PY) -m karaoke.notebooks --preset ci --sync

bench: setup
	$(PY) benchmarks/inference.py

clean-cache:
	rm -rf data/cache
