# Two commands on a fresh clone: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.spark-stamp

.PHONY: demo test setup browser office spark old-reader bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium for the HTML report's browser check (Debian package; root installs it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed and not root: the browser test will be skipped" >&2; fi; }

# Headless LibreOffice Calc for the workbook's check (tests/test_workbook.py opens the XLSX
# and prints it to PDF as a user would; Debian package; root installs it).
office:
	@command -v soffice >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc-nogui >/dev/null; \
	  else echo "libreoffice not installed and not root: the workbook's LibreOffice test will be skipped" >&2; fi; }

# The optional Spark engine (`sendlens build --engine spark`, tests/test_spark.py): the `spark`
# extra (PySpark, dbt-spark) and Java 17 or later, which is checked here.
$(SPARK_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,spark]'
	touch $(SPARK_STAMP)

spark: $(SPARK_STAMP)
	@$(PY) -m sendlens.spark || echo "the Spark test will be skipped" >&2

# The oldest DuckDB reader the warehouse supports (README, "Querying the warehouse"), in a venv
# of its own: tests/test_old_readers.py opens a published warehouse with it.
OLDEST_READER := 1.4.0
READER_VENV := .venv-reader
READER_STAMP := $(READER_VENV)/.stamp-$(OLDEST_READER)

$(READER_STAMP):
	$(PYTHON) -m venv $(READER_VENV)
	$(READER_VENV)/bin/python -m pip install -q 'duckdb==$(OLDEST_READER)'
	touch $(READER_STAMP)

old-reader: $(READER_STAMP)

demo: $(STAMP)
	$(VENV)/bin/sendlens demo

test: $(STAMP) browser office spark old-reader
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) benchmarks/run.py --messages 1000000

clean:
	rm -rf $(VENV) $(READER_VENV) sendlens-home target logs
