# SAM and checkov targets, included by the Makefile (`include infrastructure/sam.mk`); also usable alone
# from the repository root: `make -f infrastructure/sam.mk sam-build`.
#
# aws-sam-cli and checkov each pin their own boto3, pydantic, networkx...: each gets its own virtualenv,
# created on first use from a fully pinned requirements file and stamped, so re-runs cost nothing.
# Every target is a file with its inputs as prerequisites: nothing reruns until an input changes.

ifndef UV
include infrastructure/uv.mk
endif
SAM_VENV := .venv-sam
SAM_VENV_STAMP := $(SAM_VENV)/.installed
SAM_REQUIREMENTS := infrastructure/requirements-sam.txt
CHECKOV_VENV := .venv-checkov
CHECKOV_VENV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_REQUIREMENTS := infrastructure/requirements-checkov.txt

SAM_TEMPLATE := template.yaml
SAM_OUT := .aws-sam
SAM_BUILT_TEMPLATE := $(SAM_OUT)/build/template.yaml
SAM_TRANSFORMED := $(SAM_OUT)/template.transformed.json
SAM_VALIDATED := $(SAM_OUT)/validated.stamp
CHECKOV_PASSED := $(SAM_OUT)/checkov.stamp
LAMBDA_SOURCES := $(shell find functions/cio_sync -type f -not -path '*/__pycache__/*' -not -name '*.pyc')
# The list of source files, rewritten only when it changes: a deleted module also rebuilds.
LAMBDA_SOURCE_LIST := $(SAM_OUT)/lambda-sources.list
LAMBDA_BUILD_INPUTS := infrastructure/build/Makefile infrastructure/build/requirements-lambda.txt

# No telemetry, and a region for the commands that insist on one (nothing here calls AWS).
SAM_RUN := SAM_CLI_TELEMETRY=0 AWS_REGION=$${AWS_REGION:-us-east-1} \
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM_VENV)/bin/sam

.PHONY: sam-validate sam-build sam-transform checkov sam-checks sam-clean FORCE

sam-validate: $(SAM_VALIDATED)
sam-build: $(SAM_BUILT_TEMPLATE)
sam-transform: $(SAM_TRANSFORMED)
checkov: $(CHECKOV_PASSED)
sam-checks: sam-validate sam-build sam-transform checkov

$(SAM_VENV_STAMP): $(SAM_REQUIREMENTS) $(UV)
	test -x $(SAM_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(SAM_VENV)
	$(UV_INSTALL) --python $(SAM_VENV)/bin/python -r $(SAM_REQUIREMENTS)
	touch $@

$(CHECKOV_VENV_STAMP): $(CHECKOV_REQUIREMENTS) $(UV)
	test -x $(CHECKOV_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(UV_INSTALL) --python $(CHECKOV_VENV)/bin/python -r $(CHECKOV_REQUIREMENTS)
	touch $@

# `sam validate --lint`: the SAM transform plus cfn-lint on the result.
$(SAM_VALIDATED): $(SAM_TEMPLATE) $(SAM_VENV_STAMP)
	$(SAM_RUN) validate --lint --template-file $(SAM_TEMPLATE)
	mkdir -p $(@D) && touch $@

# The makefile build (infrastructure/build/Makefile) fetches wheels for python3.13/arm64, so no
# matching interpreter and no Docker are needed.
$(SAM_BUILT_TEMPLATE): $(SAM_TEMPLATE) $(LAMBDA_SOURCES) $(LAMBDA_SOURCE_LIST) $(LAMBDA_BUILD_INPUTS) $(SAM_VENV_STAMP)
	$(SAM_RUN) build --template-file $(SAM_TEMPLATE) --build-dir $(SAM_OUT)/build
	touch $@

$(LAMBDA_SOURCE_LIST): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(sort $(LAMBDA_SOURCES)) > $@.new
	@cmp -s $@.new $@ || mv $@.new $@
	@rm -f $@.new

# Plain CloudFormation, offline, for tests/infra to assert on.
$(SAM_TRANSFORMED): $(SAM_TEMPLATE) infrastructure/build/sam_transform.py infrastructure/cio_sync_local/sam.py $(SAM_VENV_STAMP)
	$(SAM_VENV)/bin/python infrastructure/build/sam_transform.py $(SAM_TEMPLATE) $@

$(CHECKOV_PASSED): $(SAM_TEMPLATE) infrastructure/checkov.yaml $(CHECKOV_VENV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --config-file infrastructure/checkov.yaml
	mkdir -p $(@D) && touch $@

FORCE:

sam-clean:
	rm -rf $(SAM_VENV) $(CHECKOV_VENV) $(SAM_OUT)
