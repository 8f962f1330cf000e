# Set-up and everyday tasks. `make demo` and `make test` install first when .venv is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
MMAR := mmars/clara_pt_spleen_ct_segmentation

.PHONY: install browser demo test test-fast lint format typecheck bench smoke check clean

install: $(STAMP)

# torch first, pinned: these wheels lie on this machine's disk; another version would pull GBs.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,onnx]"
	touch $(STAMP)

demo: install
	PATH=$(abspath $(BIN)):$$PATH bash commands/demo.sh $(DEMO_DIR)

# The report test opens report.html in headless Chromium: Debian's package where apt-get
# may be used (root, as in CI); elsewhere that one test is skipped (CI fails without it).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || echo "no Chromium: the browser test of report.html will be skipped" >&2

# pytest exits 5 when it collects no tests: that is a failure here, not a pass.
test: install browser
	$(BIN)/python -m pytest -q --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not regression"

lint: install
	$(BIN)/ruff check clara_cli tests benchmarks
	$(BIN)/ruff format --check clara_cli tests benchmarks

format: install
	$(BIN)/ruff format clara_cli tests benchmarks
	$(BIN)/ruff check --fix clara_cli tests benchmarks

typecheck: install
	$(BIN)/mypy clara_cli

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

smoke: install
	for c in dataconvert prepare-dataset train validate infer export synth; do \
	  $(BIN)/clara $$c --help >/dev/null || exit 1; done

check: lint typecheck test smoke

clean:
	rm -rf $(DEMO_DIR) $(MMAR)/models $(MMAR)/eval .pytest_cache
