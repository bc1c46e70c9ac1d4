# The course's commands. `make lab` to learn, `make test` to check everything.
# Every target creates or updates the virtual environment in .venv first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Extra arguments for `jupyter lab`, e.g. LAB_ARGS="--no-browser --port 8899".
LAB_ARGS ?=
# Extra arguments for pytest, e.g. PYTEST_ARGS='-m "not browser"'.
PYTEST_ARGS ?=

.PHONY: lab test lint format grade release autograder slides labs execute services services-stop bench venv clean

venv: $(STAMP)

# What the environment is built from; a copy of the repository sharing this .venv
# (tests/test_instructors_guide.py) sets VENV_DEPS= so it never reinstalls it.
VENV_DEPS ?= pyproject.toml
$(STAMP): $(VENV_DEPS)
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 10) else "Python 3.10 or newer is needed; found %d.%d. Run: make PYTHON=python3.11 ..." % v[:2])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,services]'
	@touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	@$(VENV)/bin/jupyter trust -y modules/*.ipynb modules/*/*.ipynb >/dev/null 2>&1 || true
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir="$(CURDIR)" $(LAB_ARGS) modules/00-course-map.ipynb

test: $(STAMP)
	@bash scripts/services start
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Lint and types: ruff (rules and formatting) and mypy, strict on the core modules (pyproject.toml).
LINT_PATHS := course_lib scripts benchmarks
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

# Rewrite the code in the project's format and apply ruff's safe fixes.
format: $(STAMP)
	$(VENV)/bin/ruff format $(LINT_PATHS)
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)

# Grade a folder of submitted notebooks: make grade SUBMISSIONS=submissions/ [HIDDEN=hidden/]
SUBMISSIONS ?= labs
HIDDEN ?=
grade: $(STAMP)
	@mkdir -p build/grades
	$(PY) -m course_lib.grading $(SUBMISSIONS) $(if $(HIDDEN),--hidden $(HIDDEN)) \
	    --json build/grades/results.json --csv build/grades/grades.csv

# What learners get, in build/release/: modules, labs, the library (question banks frozen to
# plain values), binder, docs; no solutions/, no tests, no hidden tests. Serve it to learners.
release: $(STAMP)
	$(PY) -m course_lib.grading.release build/release

# Gradescope's autograder for one lab: make autograder LAB=lab-10.4-kafka [HIDDEN=hidden/]
# writes build/autograder/<LAB>.zip (setup.sh, run_autograder, the course, the hidden tests).
LAB ?=
autograder: $(STAMP)
	@test -n "$(LAB)" || { echo "usage: make autograder LAB=lab-10.4-kafka [HIDDEN=hidden/]" >&2; exit 2; }
	$(PY) -m course_lib.grading.autograder build $(LAB) $(if $(HIDDEN),--hidden $(HIDDEN)) --out build/autograder

slides: $(STAMP)
	$(PY) scripts/build_slides.py --out build/slides

labs: $(STAMP)
	$(PY) -m course_lib.grading.labgen solutions labs

# For authors: re-run modules/ and solutions/ in place so committed outputs are fresh.
execute: $(STAMP)
	$(PY) scripts/execute_notebooks.py

services: $(STAMP)
	@bash scripts/services start

services-stop:
	@bash scripts/services stop

bench: $(STAMP)
	@found=0; for b in benchmarks/[!_]*.py; do [ -e "$$b" ] || continue; found=1; \
	    echo "== $$b"; $(PY) $$b || exit 1; done; \
	[ $$found = 1 ] || echo "no benchmarks yet (benchmarks/*.py)"

clean:
	rm -rf build .pytest_cache .hypothesis
