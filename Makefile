# Everything a developer or CI needs, from a fresh clone with only python3 on the machine.

VENV ?= .venv
PYTHON ?= python3
DATA ?= ../shared/datasets
# The CPU build, installed first so that the project's open range (torch>=2.4,<3) is already met;
# left to resolve that range alone, pip would fetch a CUDA build of several GB.
TORCH ?= torch==2.13.0
# The runtime dependencies at the versions tested: the image builds with the same file (`make lock`).
LOCK := deploy/constraints.txt
# Test worker processes (pytest-xdist), each with its own embedded broker; a test file runs whole in one
# of them, so its module fixtures are built once. More workers than cores: many tests wait on a broker,
# a subprocess or a timer rather than compute (on 2 cores, 3 workers took the suite from 16 to 7 min).
TEST_WORKERS ?= 3
# `make test` ends with its 15 slowest tests: the suite is meant to stay well under 10 minutes here.

.PHONY: install test fuzz lint bench run clean lock

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -c $(LOCK) '$(TORCH)'
	$(VENV)/bin/pip install -c $(LOCK) -e '.[test,bench]'
	touch $@

# $(LOCK) anew: pyproject.toml's ranges resolved today in a fresh environment (its comments kept).
# Review the changes, then `make test` installs and tests them.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q '$(TORCH)'
	.lock-venv/bin/pip install -q .
	{ grep '^#' $(LOCK); .lock-venv/bin/pip freeze --all | grep -iv -e '^dhag-monitor' -e '^pip==' \
	    | sed 's/^torch==\([^+]*\)+.*/torch==\1/' | sort -f; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .lock-venv

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# The property tests with fresh random examples, many more of them than `make test` draws.
fuzz: $(VENV)/.installed
	DHAG_HYPOTHESIS=fuzz $(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(shell grep -l '^from hypothesis' tests/test_*.py)

bench: $(VENV)/.installed
	mkdir -p docs/bench
	$(VENV)/bin/dhag bench table2 --data $(DATA) --detectors iforest,ecod,knn,ocsvm,deepsvdd --json docs/bench/table2.json
	$(VENV)/bin/dhag bench table2 --data $(DATA) --detectors dhag --json docs/bench/table2_dhag.json
	$(VENV)/bin/dhag bench epochs --data $(DATA) --json docs/bench/epochs.json
	$(VENV)/bin/dhag bench semisup --data $(DATA) --json docs/bench/semisup.json
	$(VENV)/bin/dhag bench speed --json docs/bench/speed.json
	$(VENV)/bin/dhag-pipeline bench --json docs/bench/pipeline.json
	$(VENV)/bin/dhag-pipeline bench plant --seeds 3 --json docs/bench/plant.json
	$(VENV)/bin/dhag-pipeline bench plant --seeds 3 --history-hours 72 --json docs/bench/plant_history72.json
	$(VENV)/bin/dhag-pipeline bench plant --seed 3 --seeds 2 --json docs/bench/plant_seeds34.json
	$(VENV)/bin/dhag-pipeline bench feedback --json docs/bench/feedback.json
	$(VENV)/bin/dhag-pipeline bench feedback --seed 1 --json docs/bench/feedback_seed1.json
	$(VENV)/bin/dhag-pipeline bench feedback --seed 2 --json docs/bench/feedback_seed2.json
	$(VENV)/bin/dhag-pipeline bench feedback --quiet-hours 24 --json docs/bench/feedback_quiet.json
	$(VENV)/bin/dhag-pipeline bench feedback --quiet-hours 24 --seed 1 --json docs/bench/feedback_quiet_seed1.json
	$(VENV)/bin/dhag-pipeline bench feedback --quiet-hours 24 --seed 2 --json docs/bench/feedback_quiet_seed2.json
	$(VENV)/bin/dhag-pipeline bench scale --json docs/bench/scale.json
	$(VENV)/bin/dhag-pipeline bench drift --json docs/bench/drift.json
	$(VENV)/bin/dhag-pipeline bench drift --assets 6 --json docs/bench/drift_assets6.json
	$(VENV)/bin/dhag-pipeline bench starts --json docs/bench/starts.json
	$(VENV)/bin/dhag-pipeline bench starts --seed 1 --json docs/bench/starts_seed1.json
	$(VENV)/bin/dhag-pipeline bench starts --seed 2 --json docs/bench/starts_seed2.json
	$(VENV)/bin/dhag-pipeline bench readback --json docs/bench/readback.json
	$(VENV)/bin/dhag-pipeline bench soak --minutes 30 --json docs/bench/soak.json
	DHAG_OUTAGE_S=30 $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_reliability_outage.py

# The whole product on this machine: embedded broker, a model (trained on the first run), the scoring
# daemon and a simulated plant with injected faults, with a live summary until Ctrl-C.
run: $(VENV)/.installed
	$(VENV)/bin/python -m pipeline demo

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
