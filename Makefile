# zflib: two commands do everything on a fresh machine: `make figures` and `make test`; a third,
# `make lab`, opens the notebooks in JupyterLab. Each builds the virtual environment first when
# it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
PORT ?= 8866
LAB_PORT ?= 8888
export ZF_DATA_MIRROR ?= $(wildcard $(abspath ../shared/datasets))

.PHONY: help setup test lint data figures lab book explore atlas bench docs clean

help: ## every target, a line each
	@grep -hE '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  make \1\t\2/' | expand -t 18

setup: $(VENV)/.installed ## the virtual environment .venv, every package pinned (1-3 min, 5.3 GB)

# The install needs about 6 GB of free disk (torch's CUDA wheel); pip keeps no cache copy of it.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c "import shutil,sys; f=shutil.disk_usage('.').free/2**30; f<6.5 and print(f'warning: {f:.1f} GB free here; the install needs about 6 GB', file=sys.stderr)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-cache-dir --upgrade pip
	$(PY) -m pip install -q --no-cache-dir -e '.[dev]'
	touch $@

lint: setup ## ruff, and import-linter's layer and no-cycle contracts (docs/architecture.md)
	$(VENV)/bin/ruff check zflib tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

test: setup lint ## ruff and the whole test suite (8 to 15 min)
	$(PY) -m pytest -q

data: setup ## install Tiny ImageNet and Caltech-101 (the mirror, else the official archives)
	$(PY) -m zflib.data install tiny-imagenet caltech101

# make figures PROFILE=smoke|quick|lab|full|full224 [ONLY="02 07"]: executed notebooks in build/;
# PNGs in figures/ for full (the committed record), figures/224/ for full224 (from ZFNet-224),
# in build/figures/PROFILE/ for the other profiles
figures: setup ## every figure and table, headless (PROFILE=smoke|quick|lab|full|full224, ONLY="02 07")
	$(PY) -m zflib.paper.figures --profile $(PROFILE) $(if $(ONLY),--only $(ONLY))

# make lab [LAB_PORT=8888]: JupyterLab at notebooks/ (the repository as its root, so that the
# notebooks' links to ../figures/ resolve), with this venv registered inside itself as the kernel
# `zflib` (any Jupyter run from the venv lists it); figures saved there go to build/figures/lab/,
# never over the committed figures/
lab: setup ## JupyterLab on notebooks/, this venv as the kernel `zflib` (LAB_PORT=8888)
	$(PY) -m ipykernel install --sys-prefix --name zflib --display-name "Python (zflib)" >/dev/null
	ZF_FIGURES=$(CURDIR)/build/figures/lab $(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 \
		--port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

# make book [PROFILE=quick]: build/notebooks/PROFILE/ (make figures writes it; default: the
# record's profile, full) rendered to static pages that open from disk
book: setup ## the executed notebooks as a static HTML book, build/book/index.html (PROFILE=full)
	$(PY) -m zflib.paper.book $(if $(filter command line environment,$(origin PROFILE)),--profile $(PROFILE))

# make explore [PORT=8866]: the interactive explorer (notebooks/00_explorer.ipynb) as a web page
explore: setup ## the interactive explorer as a web page (Voila, PORT=8866)
	$(VENV)/bin/voila notebooks/00_explorer.ipynb --port=$(PORT) --Voila.ip=127.0.0.1

# make atlas: a page for every map of ZFNet-64's layers 1-5 over the validation set, from file://
atlas: setup ## the unit atlas of ZFNet-64 (val), in build/atlas/index.html
	$(PY) -m zflib.apps.atlas --model zfnet64 --split val --out build/atlas

bench: setup ## every benchmark; results in benchmarks/results/
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

# make docs: the API reference from the docstrings (pdoc), in build/docs/api/index.html
docs: setup ## the API reference from the docstrings, in build/docs/api/
	$(PY) -m zflib.apps.apidocs --out build/docs/api

clean: ## remove build/ (executed notebooks, figures of non-record profiles, docs)
	rm -rf build
