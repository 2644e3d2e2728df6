"""The great-expectations adapter: import it without pyspark, build one ephemeral context with
every suite (split by columns), and validate a pandas frame against a suite's parts."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from typing import Any

from sendlens.expectations.formatting import _first_line
from sendlens.expectations.results import SAMPLE_VALUES
from sendlens.expectations.split import _Part, _split
from sendlens.expectations.suite_defs import SuiteDef


def _import_great_expectations():
    """Import GE without letting it import pyspark. We validate pandas batches only, and pyspark
    (present with the optional spark extra) calls sys.exit(0) on import in a process whose
    __main__ has neither __spec__ nor __file__ (``python -c``, pytest-xdist workers)."""
    import sys

    hide = "pyspark" not in sys.modules
    if hide:
        sys.modules["pyspark"] = None  # type: ignore[assignment]  # -> ImportError: "not installed"
    try:
        import great_expectations as gx
    finally:
        if hide and sys.modules.get("pyspark") is None:
            del sys.modules["pyspark"]
    return gx


def preload() -> None:
    """Import great-expectations ahead of ``validate_warehouse`` (the import alone takes seconds):
    a build calls this in a thread while dbt runs in its own process."""
    _import_great_expectations()


class _GX:
    """One ephemeral context with every suite, built once per ``validate_warehouse`` call."""

    def __init__(self, suites: Iterable[SuiteDef]) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        gx_log = logging.getLogger("great_expectations")
        if gx_log.level == logging.NOTSET:  # GE logs INFO chatter about its temp docs site
            gx_log.setLevel(logging.WARNING)
        gx = _import_great_expectations()

        self.ctx = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.ctx.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False)
        except Exception:  # progress bars are cosmetic
            pass
        try:
            from great_expectations.validator.v1_validator import Validator as V1Validator

            self._validator_cls: Any = V1Validator
        except ImportError:  # pragma: no cover - other GE layouts: the public path
            self._validator_cls = None
        try:
            # GE md5-fingerprints every in-memory DataFrame below 1 GB (a batch marker nobody
            # here reads): a quarter of the validation time. Chunks are never re-identified.
            from great_expectations.execution_engine import pandas_execution_engine

            pandas_execution_engine.HASH_THRESHOLD = 0
        except (ImportError, AttributeError):  # pragma: no cover
            pass
        asset = self.ctx.data_sources.add_pandas("sendlens").add_dataframe_asset("chunk")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self.sizes: dict[str, int] = {}  # suite -> number of expectations
        self.parts: dict[str, list[_Part]] = {}
        for s in suites:
            self.sizes[s.name] = len(s.expectations)
            self.parts[s.name] = []
            for n, (columns, positions) in enumerate(_split(s.expectations)):
                suite = self.ctx.suites.add(gx.ExpectationSuite(
                    name=f"{s.name}#{n}", expectations=[dict(s.expectations[i]) for i in positions],
                    meta=s.raw.get("meta", {})))
                index = {str(e.id): i for e, i in zip(suite.expectations, positions)}
                self.parts[s.name].append(_Part(suite, columns, positions, index))

    def validate(self, suite_name: str, df: Any) -> list[dict]:
        """Per expectation (suite order): success, result dict, exception message."""
        out: list[dict] = [{"success": False, "result": {}, "error": "not evaluated"}
                           for _ in range(self.sizes[suite_name])]
        for part in self.parts[suite_name]:
            if part.columns is None:
                frame = df
            elif not part.columns:  # the schema: which columns exist
                frame = df.iloc[:0]
            else:
                frame = df[[c for c in df.columns if c in part.columns]]
            self._validate_part(part, frame, out)
        return out

    def _validate_part(self, part: _Part, df: Any, out: list[dict]) -> None:
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self._validator_cls is not None:
                    # What Batch.validate does, minus the extra get_batch (one conversion and
                    # fingerprint less per chunk).
                    res = self._validator_cls(
                        batch_definition=self.batch_definition, result_format=result_format,
                        batch_parameters={"dataframe": df},
                    ).validate_expectation_suite(part.suite)
                else:
                    batch = self.batch_definition.get_batch(batch_parameters={"dataframe": df})
                    res = batch.validate(part.suite, result_format=result_format)
        except Exception as exc:  # this part could not run on this chunk
            msg = f"validation raised {type(exc).__name__}: {_first_line(str(exc))}"
            for i in part.positions:
                out[i] = {"success": False, "result": {}, "error": msg}
            return
        for pos, r in enumerate(res.results):
            i = part.index.get(str(r.expectation_config.id), part.positions[pos])
            out[i] = {"success": bool(r.success), "result": dict(r.result or {}),
                      "error": _exception_message(r.exception_info)}


def _exception_message(info: Any) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return _first_line(info.get("exception_message") or "error") if info["raised_exception"] else None
    if isinstance(info, dict):  # keyed by metric configuration
        for v in info.values():
            if isinstance(v, dict) and v.get("raised_exception"):
                return _first_line(v.get("exception_message") or "error")
    return None


DATA_DOCS_SITE = "sendlens"
# what of GE's site is kept: its pages and styles. Its binary assets (fonts, logos, a favicon
# and two tutorial GIFs, about 4 MB) are left out: the pages do not use them (they load their
# styling from the CDNs GE's templates name), and the gate keeps its documents as text.
DATA_DOCS_TEXT = (".html", ".css")


def write_data_docs(results: Iterable[Any], suites: Iterable[SuiteDef], out_dir: Any,
                    run_time: Any, run_name: str = "sendlens-gate") -> list[str]:
    """great-expectations' own Data Docs (its index, one page per expectation suite and one
    per validation result) of the suites' aggregated outcomes (``CheckResult`` of kind
    "suite"), built by GE's site builder in an ephemeral context into ``out_dir``: the same
    results as our page, as users of GE expect to read them. Only text files are written
    (DATA_DOCS_TEXT). Returns the files written, relative to ``out_dir``."""
    import shutil
    import tempfile
    from pathlib import Path

    gx = _import_great_expectations()
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier, ValidationResultIdentifier)

    out = Path(out_dir)
    by_name = {r.name: r for r in results if r.kind == "suite"}
    with tempfile.TemporaryDirectory(prefix="sendlens-gx-docs-") as tmp:
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.data_docs_sites = {}  # not GE's default local site: ours only
        ctx.add_data_docs_site(DATA_DOCS_SITE, {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": tmp},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
        run_id = RunIdentifier(run_name=run_name, run_time=run_time)
        for s in suites:
            r = by_name.get(s.name)
            if r is None or r.skipped:
                continue
            suite = ctx.suites.add(gx.ExpectationSuite(
                name=s.name, expectations=[dict(e) for e in s.expectations], meta=s.raw.get("meta", {})))
            if not r.expectations:  # the table could not be read: the suite's page only
                continue
            evrs = [ExpectationValidationResult(
                        success=o.success, expectation_config=e.configuration, result=dict(o.result),
                        exception_info=({"raised_exception": True, "exception_message": o.observed,
                                         "exception_traceback": None}
                                        if o.observed.startswith("error: ") else None))
                    for e, o in zip(suite.expectations, r.expectations)]
            met = sum(v.success for v in evrs)
            asset = r.relation if r.relation and not r.relation.startswith("lake") else f"lake: {s.table}"
            validation = ExpectationSuiteValidationResult(
                success=all(o.success or o.severity == "warning" for o in r.expectations[:len(evrs)]),
                results=evrs, suite_name=s.name,
                statistics={"evaluated_expectations": len(evrs), "successful_expectations": met,
                            "unsuccessful_expectations": len(evrs) - met,
                            "success_percent": 100 * met / len(evrs) if evrs else None},
                meta={"run_id": run_id, "great_expectations_version": gx.__version__,
                      "batch_spec": {"datasource": "sendlens", "data_asset_name": asset},
                      "validation_time": run_id.run_time})
            ctx.validation_results_store.set(ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=s.name),
                run_id=run_id, batch_identifier=s.table), validation)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx.build_data_docs(site_names=[DATA_DOCS_SITE])
        written = []
        for p in sorted(Path(tmp).rglob("*")):
            if p.is_file() and p.suffix in DATA_DOCS_TEXT:
                rel = p.relative_to(tmp)
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, out / rel)
                written.append(str(rel))
    return written
