# The installer every virtualenv here uses, included by the Makefile and by infrastructure/sam.mk.
#
# uv installs the pinned sets: the same packages as pip, resolved and unpacked in parallel, for about a tenth
# of pip's CPU (docs/decision_log.md, "uv installs"). It lives in .venv, which keeps a pip of its own for
# `pip install .` (tests/infra/test_install.py) and for people.
PYTHON ?= python3
VENV ?= .venv
UV_VERSION := 0.13.10
UV := $(VENV)/bin/uv
UV_INSTALL := $(UV) pip install --quiet

$(UV):
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==26.3 uv==$(UV_VERSION)
