# mizzen: `make up` runs a one-node cluster, `make test` runs the whole suite.
# Both set up everything first: Debian packages (as root, when missing) and a virtualenv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.data
DEBIAN_PACKAGES := busybox-static nftables iproute2 runc etcd-server
PYTEST_ARGS ?=

.PHONY: setup system-deps up test lint bench clean

setup: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (install them as root)"; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV)"
	@$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

up: setup
	$(BIN)/mizzen up --data-dir $(DATA_DIR)

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check apimachinery apiserver controllers kubelet mizzen tests e2e bench
	$(BIN)/lint-imports

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DATA_DIR) *.egg-info
