# Leadbridge — the two commands a newcomer needs:
#   make run    bring up broker, database, topics, all six services (the five of the pipeline and the
#               people's app) with the demo configuration and accounts; prints the app's URL and sign-ins
#   make test   run every test (unit, integration, end to end) on a real broker and database
SHELL := /bin/bash
PY    := .venv/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: help venv tools infra topics run run-secure stop test unit lint typecheck contracts generate demo bench bench-import soak bench-scoring bench-routing bench-inbox bench-campaigns bench-idle bench-sizing clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

.venv/.installed: requirements.txt requirements-dev.txt
	@echo "[setup] creating .venv and installing requirements (first time takes a minute)"
	@test -x $(PY) || python3 -m venv .venv
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	@touch $@

venv: .venv/.installed ## install the runtime and development requirements into .venv

tools: ## install the checkers and clients make test runs (AsyncAPI CLI, compose schema, Helm, kcat, Chromium and axe-core for the browser tests), once per machine
	@tools/install.sh >/dev/null

generate: venv ## regenerate what derives from the topic registry and the services: docs/asyncapi.yaml, the chart's registry.yaml
	@$(PY) -m deploy.generate

infra: venv ## start Kafka (KRaft) and PostgreSQL if they are not running, and create the topics
	@deploy/kafka/kafka.sh start
	@deploy/postgres/postgres.sh start
	@$(MAKE) --no-print-directory topics
	@$(PY) -m bench.stack prune   # what killed test runs left behind: their topics slow every broker start
	@$(PY) -m bench.stack prune   # what killed test runs left behind (their topics slow every broker start)

topics: venv
	@$(PY) -m shared.topics create

run: venv ## bring up the whole pipeline and the app (http://127.0.0.1:8006) with the demo configuration and accounts; Ctrl-C stops it
	@deploy/run.sh

run-secure: venv ## make run in the secure profile (docs/SECURITY.md): Kafka SASL/SCRAM + ACLs, a principal and a PostgreSQL role per service
	@SECURE=1 deploy/run.sh

lint: venv ## ruff
	@$(PY) -m ruff check shared services bench tests deploy

typecheck: venv ## mypy (strict on shared, services and bench)
	@$(PY) -m mypy shared services bench

contracts: venv ## import-linter: the domain is pure, the handling core needs no Kafka or driver, services are independent
	@.venv/bin/lint-imports --config pyproject.toml --no-cache

unit: venv ## fast unit tests only (no broker, no database)
	@$(PY) -m pytest -q shared services

test: venv tools lint typecheck contracts ## every test, against the broker and database in LEADBRIDGE_* or the local ones it starts
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@deploy/prometheus/prometheus.sh install   # promtool for the metric, rule and dashboard checks
	@deploy/mailpit/mailpit.sh install         # the mail catcher nurture's tests read (built once)
	@$(PY) -m pytest -ra --durations=15 $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: venv ## schemathesis (stateless and stateful) on every service's OpenAPI: at least 1,000 cases each
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m tests.fuzz.runner --max-examples 100 --min-cases 1000 $(FUZZ_ARGS)

demo: venv ## post a handful of leads to the running stack (make run) and show where each went
	@$(PY) deploy/demo/demo.py

bench: venv ## capture→assigned throughput and latency through the real stack, beside a bare-Kafka baseline
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.pipeline $(BENCH_ARGS)

bench-import: venv ## a list import of 100,000 rows: rows accepted/s and time until every lead is graded and assigned, beside bare Kafka
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.imports $(BENCH_ARGS)

soak: venv ## the burst test at trade-show size: 5,000 concurrent posts, each graded and assigned exactly once
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@LEADBRIDGE_BURST_LEADS=5000 $(PY) -m pytest -q tests/e2e/test_burst.py $(PYTEST_ARGS)

bench-scoring: venv ## scoring throughput on one worker
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.scoring $(BENCH_ARGS)

bench-campaigns: venv ## campaign report (100,000 members, 10,000 won deals) and attribution recompute, beside a plain GROUP BY
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.campaigns $(BENCH_ARGS)

bench-routing: venv ## lead-scored→lead-assigned latency at 500 leads/s
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.routing $(BENCH_ARGS)

bench-inbox: venv ## inbox retention: claim 1,000,000 ids, prune the old ones; table size, prune time, claim latency
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.inbox $(BENCH_ARGS)

bench-idle: venv ## each service's CPU with no traffic for a minute, beside the 0.5 % target
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.idle $(BENCH_ARGS)

bench-sizing: venv ## CPU per lead of each service at a steady 200 leads/s for 30 s, and the replicas and partitions a lead rate needs
	@if [ -z "$$LEADBRIDGE_KAFKA_BOOTSTRAP$$LEADBRIDGE_DATABASE_URL" ]; then $(MAKE) --no-print-directory infra; fi
	@$(PY) -m bench.sizing $(BENCH_ARGS)

stop: ## stop the local Kafka, Prometheus and Mailpit (PostgreSQL only if make run/infra started it)
	@deploy/prometheus/prometheus.sh stop || true
	@deploy/mailpit/mailpit.sh stop || true
	@deploy/kafka/kafka.sh stop || true
	@deploy/postgres/postgres.sh stop --if-started || true

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache var reports
