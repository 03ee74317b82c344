# zflib: two commands do everything on a fresh machine: `make figures` and `make test`.
# Each builds the virtual environment first when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
PORT ?= 8866
export ZF_DATA_MIRROR ?= $(wildcard $(abspath ../shared/datasets))

.PHONY: setup test lint data figures explore bench clean

setup: $(VENV)/.installed

# The install needs about 6 GB of free disk (torch's CUDA wheel); pip keeps no cache copy of it.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c "import shutil,sys; f=shutil.disk_usage('.').free/2**30; f<6.5 and print(f'warning: {f:.1f} GB free here; the install needs about 6 GB', file=sys.stderr)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-cache-dir --upgrade pip
	$(PY) -m pip install -q --no-cache-dir -e '.[dev]'
	touch $@

lint: setup
	$(VENV)/bin/ruff check zflib tests benchmarks

test: setup lint
	$(PY) -m pytest -q

data: setup
	$(PY) -m zflib.data install tiny-imagenet caltech101

# make figures PROFILE=smoke|quick|full [ONLY="02 07"]: executed notebooks in build/, PNGs in figures/
figures: setup
	$(PY) -m zflib.figures --profile $(PROFILE) $(if $(ONLY),--only $(ONLY))

# make explore [PORT=8866]: the interactive explorer (notebooks/00_explorer.ipynb) as a web page
explore: setup
	$(VENV)/bin/voila notebooks/00_explorer.ipynb --port=$(PORT) --Voila.ip=127.0.0.1

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf build
