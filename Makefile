# Two commands for a fresh machine: `make book` and `make test` (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The second floating-point path: one thread, and MKL's reproducible (instruction-set
# independent) kernels instead of the fastest ones for this CPU. No test may depend on the path.
FP_PATH2 := OMP_NUM_THREADS=1 MKL_CBWR=COMPATIBLE
# The tests whose numbers pass through BLAS (the rest check files, commands and the browser).
NUMERIC_TESTS := tests/algorithms/test_algorithms.py tests/algorithms/test_switches.py tests/engine/test_engine.py \
	tests/engine/test_compaction.py tests/algorithms/test_readout.py \
	tests/ground/test_tasks.py tests/analysis/test_verdicts.py tests/engine/test_resume.py tests/algorithms/test_norm_modes.py \
	tests/analysis/test_controls_context.py tests/algorithms/test_released_script.py tests/analysis/test_findings.py

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[book,test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

.PHONY: install test book unit unit-fp2 nbval clean
install: $(STAMP)

unit: $(STAMP)
	$(BIN)/python -m pytest tests

unit-fp2: $(STAMP)
	$(FP_PATH2) $(BIN)/python -m pytest $(NUMERIC_TESTS)

# a failing check in a chapter raises, so nbval fails on it (and prints it in full)
nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider book

test: unit unit-fp2 nbval

book: $(STAMP)
	@# LRA_REPOSITORY_URL=https://github.com/OWNER/REPO adds the repository and Binder buttons
	PATH=$(BIN):$$PATH $(BIN)/jupyter-book build . -W --keep-going \
		--config "$$($(BIN)/python tools/book_config.py _build/_config.yml)"
	@# the page's download button serves the notebook as executed (outputs included)
	cp _build/jupyter_execute/book/*.ipynb _build/html/_sources/book/
	@echo "Book: $$(pwd)/_build/html/index.html"

clean:
	rm -rf _build
