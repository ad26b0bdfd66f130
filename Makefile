# Two commands for a fresh machine: `make run` and `make test`. Each creates or updates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration infra e2e bench hunt soak clean deploy destroy page-check

# uv (installed into .venv), then sam validate/build, the offline SAM transform and checkov, each in its own
# pinned virtualenv.
include infrastructure/uv.mk
include infrastructure/sam.mk

$(STAMP): pyproject.toml constraints.txt $(UV)
	$(UV_INSTALL) --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cio-sync local up

# One pytest run over every kind of test on two workers (--dist loadfile keeps each file on one worker;
# tests/conftest.py hands out the long ones first), in a new random order each run (pytest-randomly prints
# the seed; `--randomly-seed=N` replays the order), with the branch-coverage floor on functions/. Lint and
# mypy run beside it at low priority, on the CPU the integration tests leave idle while they wait, and
# print (and fail the target) at the end. The SAM checks (their own venvs' installs and builds) start first,
# beside the install of .venv, under the lock the infra tests take
# (tests/infra/cfn.py), so those tests wait for them.
COVERAGE := --cov=functions --cov-branch --cov-report=term:skip-covered --cov-fail-under=90
PARALLEL := -n $(or $(JOBS),2) --dist loadfile --no-loadscope-reorder
SAM_LOCK := .aws-sam/.make.lock

# A shell that sets PYTHONDONTWRITEBYTECODE makes every child Python (moto server, workers, the CLI)
# compile the project's modules again at each start; the tests keep their bytecode in __pycache__.
test: export PYTHONDONTWRITEBYTECODE :=
test:
	@mkdir -p .aws-sam
	$(MAKE) --no-print-directory $(UV)
	flock $(SAM_LOCK) $(MAKE) --no-print-directory sam-checks > .aws-sam/sam-checks.log 2>&1 & \
	$(MAKE) --no-print-directory $(STAMP) || { wait; exit 1; }; \
	nice -n 10 $(MAKE) --no-print-directory -j2 --output-sync=target lint typecheck \
		> .aws-sam/static-checks.log 2>&1 & static=$$!; \
	$(BIN)/pytest tests $(PARALLEL) $(COVERAGE) --durations=15; status=$$?; \
	wait $$static || status=1; cat .aws-sam/static-checks.log; wait; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit --disable-socket -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

infra: $(STAMP)
	$(BIN)/pytest tests/infra -q

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -q

# Not part of `make test`: the benchmark (tens of minutes on moto, writes bench/results.json) and the chaos soak
# (MINUTES=5 by default, at most 10; SEED picks the random writes and faults).
bench: $(STAMP)
	$(BIN)/python -m cio_sync_local.bench

# Not part of `make test`: the property tests and the state machine with a new seed each run and more
# examples (make test replays fixed ones; an hour per test, not the suite's 5 minutes: 2,000 examples on a
# loaded machine outlast them); a failure prints the history to turn into a named test.
hunt: $(STAMP)
	CIO_SYNC_HYPOTHESIS_PROFILE=hunt CIO_SYNC_STATEFUL_EXAMPLES=$(or $(EXAMPLES),2000) \
		$(BIN)/pytest tests/unit -p no:randomly --disable-socket -q --timeout=3600

soak: $(STAMP)
	$(BIN)/python -m cio_sync_local.soak --minutes $(or $(MINUTES),5) --seed $(or $(SEED),0)

# Not part of `make test` either: the emulator page rendered by Debian's chromium at 800 px and checked.
page-check: $(STAMP)
	$(BIN)/python -m cio_sync_local.page_check

# One stack on AWS per ENV (cio-sync-$(ENV); docs/deploy.md): PARAMS="Name=Value ..." and ALARM_EMAIL=...
# add parameters, DRY_RUN=1 prints the commands and calls nothing, YES=1 does not ask first.
deploy: $(STAMP) $(SAM_VENV_STAMP)
	$(BIN)/python infrastructure/stack_admin.py deploy $(ENV) $(if $(DRY_RUN),--dry-run) $(if $(YES),--yes) \
		$(if $(ALARM_EMAIL),--set AlarmEmail=$(ALARM_EMAIL)) $(foreach p,$(PARAMS),--set $(p))

destroy: $(STAMP)
	$(BIN)/python infrastructure/stack_admin.py destroy $(ENV) $(if $(DRY_RUN),--dry-run) $(if $(YES),--yes)

clean: sam-clean
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .aws-sam .local
