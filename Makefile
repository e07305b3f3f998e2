# The README's two commands: `make demo` and `make test`. Each creates .venv on first use.
# PYTHON picks the interpreter, TESTS narrows the suite (CI runs a part on Python 3.13).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TESTS  ?=
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean messages

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

# The texts shown to people, for translators (README: "Adding a language"): extract them
# from the code and templates, merge them into each language's catalogue, compile those.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header \
		-o tpn/locale/messages.pot .
	$(BIN)/pybabel update -i tpn/locale/messages.pot -d tpn/locale
	$(BIN)/pybabel compile -d tpn/locale --statistics

clean:
	rm -rf $(VENV) out .pytest_cache
