# The README's two commands: `make demo` and `make test`. Each creates .venv on first use.
# PYTHON picks the interpreter, TESTS narrows the suite (CI runs a part on Python 3.13).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TESTS  ?=
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the dependency list or the C extension changes. Without a C compiler the
# extension is skipped and tpn runs its NumPy path (tpn --version says which).
$(VENV)/.installed: pyproject.toml setup.py tpn/matching/_simplex.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/tpn demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(TESTS)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/churn.py

clean:
	rm -rf $(VENV) out .pytest_cache
