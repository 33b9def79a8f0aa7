# Two commands for a fresh machine: `make book` and `make test` (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[book,test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

.PHONY: install test book unit clean
install: $(STAMP)

unit: $(STAMP)
	$(BIN)/python -m pytest tests

test: $(STAMP)
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider book

book: $(STAMP)
	PATH=$(BIN):$$PATH $(BIN)/jupyter-book build . -W --keep-going
	@echo "Book: $$(pwd)/_build/html/index.html"

clean:
	rm -rf _build
