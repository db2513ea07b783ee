# The two commands of the README:
#   make demo   .venv + the core + the local backend, then the iris sweep end to end:
#               leaderboard, best trial's test score, a local endpoint, scoring
#   make test   .venv + everything (all backends and extras, Mitra's too; dev tools), then the whole suite (tests/test_docs.py
#               runs the docs' examples and `mkdocs build --strict`)
#   make docs   the docs site, built --strict into site/ (make docs-serve: on http://127.0.0.1:8000)
# Every pip install goes through constraints.txt (torch 2.13.0; install-all takes PyPI's build of it).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test test-image image image-multimodal image-foundation install-core install-local install-all install-docs docs docs-serve bench lint schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	@touch $@

$(VENV)/.local: $(VENV)/.core backends/local/pyproject.toml
	$(PIP) -e . -e backends/local
	@touch $@

# torch as PyPI builds it (CUDA libraries included; it runs on the CPU): the CPU wheel on this
# disk cannot host PyPI's torchvision, which the multimodal extra needs. make demo installs no torch.
$(VENV)/.all: $(VENV)/.local backends/sagemaker/pyproject.toml backends/azureml/pyproject.toml
	$(PIP) 'torch==2.13.0,!=2.13.0+cpu' torchvision==0.28.0
	$(PIP) -e '.[dev]' -e 'backends/local[timeseries,docker,multimodal,foundation]' -e 'backends/sagemaker[test]' -e backends/azureml
	@touch $@

# the docs site: the core with the docs extra and the three backends (their compile makes the backend-support page)
$(VENV)/.docs: $(VENV)/.local backends/sagemaker/pyproject.toml backends/azureml/pyproject.toml
	$(PIP) -e '.[docs]' -e backends/local -e backends/sagemaker -e backends/azureml
	@touch $@

install-core: $(VENV)/.core
install-local: $(VENV)/.local
install-all: $(VENV)/.all
install-docs: $(VENV)/.docs

# mkdocs 1.x plugins print a notice about a "mkdocs 2" on every build; these two variables keep it quiet
DOCS_ENV := NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true
docs: install-docs
	$(DOCS_ENV) $(BIN)/python -m mkdocs build --strict

docs-serve: install-docs
	$(DOCS_ENV) $(BIN)/python -m mkdocs serve --strict -a 127.0.0.1:8000

demo: install-local
	$(BIN)/python job_specs/make_data.py iris
	$(BIN)/cloudauto validate job_specs/iris.yaml
	$(BIN)/python job_specs/demo.py

test: install-all test-image .venv-mltable/.ok
	$(BIN)/ruff check cloudauto backends tests bench job_specs docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the docker-mode tests' image (backends/local/Dockerfile on a debootstrap base); where no
# engine runs it says why, and those tests are skipped with that reason
test-image: install-all
	$(BIN)/python tests/backends/docker_image.py

# Azure's mltable package in a venv of its own (its pins clash with the main one's); the Azure
# tests load every compiled MLTable with it
.venv-mltable/.ok: tests/mltable-requirements.txt
	$(PYTHON) -m venv .venv-mltable
	.venv-mltable/bin/python -m pip install --quiet --disable-pip-version-check -r tests/mltable-requirements.txt
	@touch $@

# the image for docker mode (backends.local.image: cloudauto-local:latest)
IMAGE ?= cloudauto-local:latest
BASE  ?= python:3.11-slim-bookworm
CA    ?= $(or $(PIP_CERT),/etc/ssl/certs/ca-certificates.crt)
image:
	@mkdir -p .docker
	@if [ -f "$(CA)" ]; then cp "$(CA)" .docker/ca-bundle.pem; fi
	docker build -f backends/local/Dockerfile --build-arg BASE=$(BASE) --build-arg MULTIMODAL=$(MULTIMODAL) --build-arg FOUNDATION=$(FOUNDATION) -t $(IMAGE) .

# the same image with torch, torchvision and autogluon.multimodal, for image and text trials in docker mode
MULTIMODAL ?= false
FOUNDATION ?= false
image-multimodal:
	$(MAKE) image IMAGE=cloudauto-local:multimodal MULTIMODAL=true

image-foundation:
	$(MAKE) image IMAGE=cloudauto-local:foundation FOUNDATION=true

# a second venv with only the core, so the validate figure is what a core-only user sees
.venv-core/.core: pyproject.toml constraints.txt
	$(PYTHON) -m venv .venv-core
	.venv-core/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $@

bench: install-all .venv-core/.core
	$(BIN)/python job_specs/make_data.py all
	$(BIN)/python bench/validate_cold_start.py --core-python .venv-core/bin/python --full-python $(BIN)/python \
		--json bench/results/validate_cold_start.json
	$(BIN)/python bench/scheduler_overhead.py --json bench/results/scheduler_overhead.json
	$(BIN)/python bench/local_overhead.py --json bench/results/local_overhead.json
	$(BIN)/python bench/compile_time.py --backend sagemaker --json bench/results/compile_sagemaker.json
	$(BIN)/python bench/compile_time.py --backend azureml --json bench/results/compile_azureml.json
	$(BIN)/python bench/endpoint_latency.py --json bench/results/endpoint_latency.json
	$(BIN)/python bench/batch_predict.py --json bench/results/batch_predict.json
	$(BIN)/python bench/example_sweeps.py --json bench/results/example_sweeps.json
	$(BIN)/python bench/sampler_proposals.py --json bench/results/sampler_proposals.json

lint: install-all
	$(BIN)/ruff check cloudauto backends tests bench job_specs docs

schema: install-core
	$(BIN)/cloudauto schema -o job_specs/cloudauto.schema.json

clean:
	rm -rf $(VENV) .venv-core .venv-mltable .pytest_cache site
