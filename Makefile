# Quick start: `make demo` (nightly flow on the embedded default), `make test` (what CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

export HF_HUB_OFFLINE ?= 1
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90

.PHONY: venv demo demo-model test lint docs bench replay replay-table clean

venv: $(VENV)/.installed

# torch first, from the pin in constraints.txt (a local CPU wheel here, the CUDA build on GPU hosts).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch
	# setuptools' editable install of a package laid over several folders prints an
	# informational "Editable installation" note (a UserWarning): not a packaging problem
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# the bi-encoder default, then the demo cross-encoder's run when it is built (make demo-model)
demo: venv
	$(BIN)/rerankwatch nightly

# ~9 min on 2 CPU cores, once per machine (cached); DEMO_BUDGET=smoke only tests the plumbing
DEMO_BUDGET ?= full
demo-model: venv
	$(BIN)/rerankwatch build-demo-model --budget $(DEMO_BUDGET)

# TEST_WORKERS pytest-xdist workers (default 2: CI's 2 cores; 0 runs in this process). A test
# file stays on one worker (--dist loadfile), so its module fixtures are built once; each worker
# has its own Prefect home and test harness (tests/conftest.py)
TEST_WORKERS ?= 2
test: venv
	$(BIN)/python -m pytest -m "not gpu" -n $(TEST_WORKERS) --dist loadfile --durations=25

# ruff, then the import-linter contracts of pyproject.toml (layers, forbidden imports, no
# cycles); rerankwatch/<folder> links to each top-level folder, so the checkout's rerankwatch/
# is the whole package, as the wheel installs it; then no module using another's private
# (underscore) names, which neither ruff nor import-linter checks (an AST walk, about a second)
lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/contract/test_private_imports.py

# the docs site (mkdocs.yml, docs/) into site/; --strict: a broken link or a missing page fails.
# The reference pages are generated from the code at build time (docs/hooks.py)
docs: venv
	$(BIN)/mkdocs build --strict

# every bench at full size (about an hour on 2 CPU cores); `make bench QUICK=1`: small sizes
bench: venv
	$(BIN)/python bench/score_overhead.py $(if $(QUICK),--pairs 100)
	$(BIN)/python bench/nightly_overhead.py $(if $(QUICK),--pairs 1000)
	$(BIN)/python bench/suite_scale.py $(if $(QUICK),--pairs 1000000,--targets)
	$(BIN)/python bench/isolated_overhead.py $(if $(QUICK),--pairs 500)
	$(BIN)/python bench/history_queries.py --readme $(if $(QUICK),--runs 30 --pairs 5000)
	$(BIN)/python bench/history_queries.py --readme --backend ducklake $(if $(QUICK),--runs 30 --pairs 5000)
	$(BIN)/python bench/store_ingest.py $(if $(QUICK),--rows 1000000)
	$(BIN)/python bench/store_ingest.py --backend ducklake $(if $(QUICK),--rows 1000000)
	$(BIN)/python bench/score_durability.py $(if $(QUICK),--pairs 1000 --repeat 1)
	$(BIN)/python bench/fanout.py $(if $(QUICK),--pairs 1000)

replay: venv
	$(BIN)/rerankwatch replay

# docs/replays.md's replay table, from the replays engines/faults.py declares (a unit test
# compares them; the docs build also generates it afresh)
replay-table: venv
	$(BIN)/python -c "from pathlib import Path; from rerankwatch.pipeline.replay import \
	readme_with_replay_table as table; p = Path('docs/replays.md'); p.write_text(table(p.read_text()))"

clean:
	rm -rf $(VENV) build site .prefect .prefect-test .cache rerankwatch.duckdb replay.duckdb
