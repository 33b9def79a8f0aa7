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
# Budget (issue 25): `make test` <= 10 minutes on an idle 2-core machine whose book is built.
# The tests run on two pytest-xdist workers, one per core (PYTEST_WORKERS=0: one process), a
# file at a time (--dist loadfile): a file's module-scoped fixtures are set up once, a chapter's
# cells share their kernel. (Not --dist loadgroup: under pytest 9.2 it silently stops grouping,
# pytest-xdist issue 1386.) Every run prints its ten slowest tests; a test over ~20 s says
# beside it why it needs that long.
PYTEST_WORKERS ?= 2
# --no-loadscope-reorder: the files go in tests/conftest.py's order, longest first
# (tests/file_costs.py), not xdist's (most tests first), so that a long file never starts last.
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)
# Two workers, each with PyTorch's default thread count, share the two cores: an OpenMP thread
# waiting for work then sleeps instead of spinning (GNU OpenMP's default spin burns the core the
# other worker needs: 5-20x the CPU time on small ops). The thread count, so every number, is
# unchanged.
PYTEST = OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} $(BIN)/python -m pytest --durations=10
BUDGET_S := 600

# The README's CPU install (issue 24): PyTorch's CPU wheel index beside PyPI, with constraints.txt.
# Where that index does not answer (a machine that reaches only a PyPI mirror), the CPU wheel must
# come from pip's own configuration (`pip config list`: find-links, an index); check_install.py
# says so on stderr.
# Where locks/ holds the lock of this Python and platform (every package's exact version,
# tools/check_install.py --write-lock), it is a second constraints file: the environment CI tests.
$(STAMP): pyproject.toml constraints.txt $(wildcard locks/*.txt)
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $$($(PY) tools/check_install.py --index-args) \
		-c constraints.txt $$($(PY) tools/check_install.py --lock-path | sed 's/^/-c /') \
		-e '.[book,test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

.PHONY: install check-install test book unit unit-fp2 nbval unit-nbval clean
install: $(STAMP)

# the README's install resolved against the index (metadata only, 1-4 min, network): a pin that
# conflicts with what torch brings fails here (tools/check_install.py says what it checks)
check-install: $(STAMP)
	$(BIN)/python tools/check_install.py

# the browser test (tests/faces/test_book_html.py) reads `make book`'s build: LRA_BOOK_HTML's,
# else _build/html, built here first (once) when a source of the book is newer than it
unit: $(STAMP)
	@test -n "$$LRA_BOOK_HTML" || $(BIN)/python tools/book_fresh.py || $(MAKE) --no-print-directory book
	$(PYTEST) $(XDIST) tests

unit-fp2: $(STAMP)
	$(FP_PATH2) $(PYTEST) $(XDIST) $(NUMERIC_TESTS)

# a failing check in a chapter raises, so nbval fails on it (and prints it in full)
nbval: $(STAMP)
	$(PYTEST) $(XDIST) --nbval-lax -p no:cacheprovider book

# the unit tests and every chapter under nbval in one session, then the second path; their total
# against the budget
unit-nbval: $(STAMP)
	@test -n "$$LRA_BOOK_HTML" || $(BIN)/python tools/book_fresh.py || $(MAKE) --no-print-directory book
	$(PYTEST) $(XDIST) -p no:cacheprovider --nbval-lax tests book

test: $(STAMP)
	@start=$$(date +%s); $(MAKE) --no-print-directory unit-nbval unit-fp2 || exit $$?; \
	s=$$(( $$(date +%s) - start )); echo "make test: $$s s (budget $(BUDGET_S) s)"; \
	if [ $$s -gt $(BUDGET_S) ]; then \
		echo "WARNING: make test took $$s s, over the 10-minute budget (issue 25)"; fi

book: $(STAMP)
	@rm -f _build/html/.lra-book-built
	@# LRA_REPOSITORY_URL=https://github.com/OWNER/REPO adds the repository and Binder buttons
	@# --all: every page again. Sphinx alone re-reads only the notebooks that changed, but every
	@# chapter reads results/ and lra/: after a campaign or a code change an unchanged chapter
	@# would keep its old numbers
	PATH=$(BIN):$$PATH $(BIN)/jupyter-book build . --all -W --keep-going \
		--config "$$($(BIN)/python tools/book_config.py _build/_config.yml)"
	@# the page's download button serves the notebook as executed (outputs included)
	cp _build/jupyter_execute/book/*.ipynb _build/html/_sources/book/
	@# a finished build: `make unit` reuses it while no source is newer (tools/book_fresh.py)
	@touch _build/html/.lra-book-built
	@echo "Book: $$(pwd)/_build/html/index.html"

clean:
	rm -rf _build
