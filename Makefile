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

# the main job on data that ships with scikit-learn: flat CNN vs the tree built from its confusion (< 5 min on 2 cores)
demo: $(STAMP)
	$(VENV)/bin/taxoclass taxonomy show taxonomies/ndsb_plankton.tsv --max-depth 1
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/taxoclass benchmark --dataset digits --backbone small_cnn --image-size 32 \
		--channels 1 --epochs 10 -o demo_output --overwrite

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
