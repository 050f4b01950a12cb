# Two commands set everything up on a fresh machine with Python >= 3.10:
#   make demo   creates .venv, installs taxoclass, runs the main job
#   make test   creates .venv if missing, installs, runs the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/taxoclass taxonomy show taxonomies/ndsb_plankton.tsv --max-depth 2

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
