# Two commands do all the set-up (see README): `make demo` and `make test`.
# Each creates .venv/ if missing and (re)installs only when pyproject.toml changed.
PY     := .venv/bin/python
PIP    := .venv/bin/pip
STAMP  := .venv/.stamp-install

.PHONY: demo test docs bench clean

$(PY):
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml setup.py | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev,onnx,dask]"
	# numba kernels (k-means, regularizers, mapping search) compiled once here, not on the first command
	$(PY) -m dkm.warm
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m dkm.demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict

clean:
	rm -rf .venv out site
