# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv/ and fetch
# what they need themselves (Python packages from PyPI, Kafka jars from Maven Central).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Tools the operations checks in tests/ops need, built once from the Go module proxy into the cache
# (outside the repository; LEAD_ROUTER_CACHE_DIR moves it): promtool for the alert rules, the
# Docker Compose CLI plugin for `docker compose config`. Each version gets its own folder. Without
# a `go` on the PATH, the Go toolchain itself comes from the module proxy (golang.org/toolchain).
TOOLS := $(or $(LEAD_ROUTER_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lead-router)/tools
GO_VERSION := 1.26.8
GO_LOCAL := $(TOOLS)/go-$(GO_VERSION)/bin/go
HOST_GO := $(shell command -v go 2>/dev/null)
GO ?= $(or $(HOST_GO),$(GO_LOCAL))
GO_NEEDED := $(if $(HOST_GO),,$(GO_LOCAL))
PROMETHEUS_VERSION := 3.16.0
PROMETHEUS_MODULE_VERSION := v0.316.0# Prometheus 3.16.0 as a Go module
COMPOSE_VERSION := 5.6.0
COMPOSE_MODULE := github.com/docker/compose/v5@v$(COMPOSE_VERSION)
PROMTOOL := $(TOOLS)/prometheus-$(PROMETHEUS_VERSION)/promtool
COMPOSE_DOCKER_CONFIG := $(TOOLS)/compose-$(COMPOSE_VERSION)
COMPOSE_PLUGIN := $(COMPOSE_DOCKER_CONFIG)/cli-plugins/docker-compose

.PHONY: install lint test demo clean tools bench-env system-packages screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lead-router needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check processor tests benchmarks
	$(BIN)/ruff format --check processor tests benchmarks
	$(BIN)/mypy

test: lint tools system-packages
	LEAD_ROUTER_PROMTOOL=$(PROMTOOL) LEAD_ROUTER_COMPOSE_DOCKER_CONFIG=$(COMPOSE_DOCKER_CONFIG) \
		$(BIN)/pytest

tools: $(PROMTOOL) $(COMPOSE_PLUGIN)

# The console's browser tests drive the distribution's Chromium, and its index's tests start a
# PostgreSQL server from the distribution's packages: installed when missing, as root or with a
# sudo that asks no password. Where that is impossible the script says why and goes on; those
# tests are then skipped with the reason.
system-packages:
	@./.ci/system-packages

$(GO_LOCAL):
	$(PYTHON) tests/ops/gotoolchain.py $(GO_VERSION) $(TOOLS)/go-$(GO_VERSION)

# Without the cloud service discoveries (not needed to check rules), which halves the build.
# GOTOOLCHAIN=auto: an older host Go fetches the release the module asks for.
$(PROMTOOL): | $(GO_NEEDED)
	GOTOOLCHAIN=auto GOBIN=$(@D) $(GO) install -trimpath -tags remove_all_sd,enable_dns_sd \
		-ldflags '-X github.com/prometheus/common/version.Version=$(PROMETHEUS_VERSION)' \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_MODULE_VERSION)

# Built inside the downloaded module: its go.mod has exclude directives, which `go install` refuses.
$(COMPOSE_PLUGIN): | $(GO_NEEDED)
	@mkdir -p $(@D)
	cd "$$(GOTOOLCHAIN=auto $(GO) mod download -json $(COMPOSE_MODULE) \
			| $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" \
		&& GOTOOLCHAIN=auto $(GO) build -trimpath -o $@.tmp \
			-ldflags '-X github.com/docker/compose/v5/internal.Version=v$(COMPOSE_VERSION)' ./cmd
	mv $@.tmp $@

# The stream benchmark's Quix Streams contender runs in an environment of its own: quixstreams pins
# an older confluent-kafka than the project's. The project goes in without its dependencies, which
# follow from pyproject.toml less confluent-kafka, so that quixstreams' pin decides the client.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): pyproject.toml benchmarks/requirements-quix.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-quix.txt \
		$$($(PYTHON) -c 'import tomllib; \
			deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; \
			print(" ".join(d for d in deps if not d.startswith("confluent-kafka")))')
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps -e .
	@touch $(BENCH_STAMP)

bench-env: $(BENCH_STAMP)

# The IP database is optional for the demo: without it, visitors known only by IP stay unlocated.
# The demo ends serving the console on its broker: its address and logins are the last lines.
demo: install
	-$(BIN)/lead-router geo fetch
	$(BIN)/lead-router demo

# The README's pictures of the console: the browser tests save each page they open.
screenshots: install system-packages
	LEAD_ROUTER_SCREENSHOTS=docs/images $(BIN)/pytest -q tests/integration/test_console_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
