# genmodels: the two commands of the README are `make demo` and `make test`.
# Each creates .venv when missing, reuses a torch >= 2.10 already in it (or installs
# $(TORCH_SPEC)), then installs the package with its extras under a constraint that keeps
# torch unchanged.

PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= dev
STAMP      := $(VENV)/.genmodels-installed
PYTEST_ARGS ?=

.PHONY: all install demo test reliability bench lint clean

all: install

install: $(STAMP)

$(STAMP): pyproject.toml setup.py src/genmodels/paths/_auction.c Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import torch, sys; v = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(0 if v >= (2, 10) else 1)" 2>/dev/null; then \
	  echo "reusing torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
	  echo "installing $(TORCH_SPEC)"; $(PY) -m pip install -q "$(TORCH_SPEC)"; \
	fi
	@$(PY) -c "import torch; print('torch==' + torch.__version__)" > $(VENV)/constraints.txt
	$(PY) -m pip install -q -c $(VENV)/constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/genmodels demo --out demo-report

test: install
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (for the report's browser test)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
	  || echo "warning: could not install chromium; tests/test_browser.py will fail"; }
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The full fault trials (SIGKILL inside writes, 24 trials over four families) and, with
# GENMODELS_FUZZ=full, the full-size fuzz tests (tests/test_fuzz_*.py) where present.
reliability: install
	GENMODELS_FUZZ=full $(PY) -m pytest -q -m reliability $(PYTEST_ARGS)
	@fuzz="$(wildcard tests/test_fuzz_*.py)"; if [ -n "$$fuzz" ]; then \
	  echo "GENMODELS_FUZZ=full pytest $$fuzz"; \
	  GENMODELS_FUZZ=full $(PY) -m pytest -q -m "" $$fuzz $(PYTEST_ARGS); fi

bench: install
	@grep -v '^#' benchmarks/peers.txt | grep . | xargs -r $(PY) -m pip install -q --no-deps -c $(VENV)/constraints.txt
	$(PY) benchmarks/run_all.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) demo-report .pytest_cache .ruff_cache
