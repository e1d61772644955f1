# `make test` and `make demo` do their own set-up on a fresh machine: they create .venv
# and install the project with its test extra before running.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The main job on embedded defaults (SQLite, embedded Chroma, offline engine, a scenario's data).
SCENARIO ?= scenarios/shop-cart-crashloop
demo: $(STAMP)
	$(BIN)/chatops console --scenario $(SCENARIO)

clean:
	rm -rf $(VENV) data .pytest_cache
