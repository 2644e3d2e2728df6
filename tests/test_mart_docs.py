"""The public marts' documented contract (issue 18): every mart (the models of schema marts)
enforces a dbt model contract on DuckDB, and every column a real build writes to a mart is in
its YAML with a non-empty description and the data_type the warehouse has. Read from the
manifest of a real `dbt parse` and from a warehouse built from a few landed rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sendlens.config import load_settings, utc_now
from sendlens.dbt_runner import manifest_path, run_dbt
from tests.scenario import Scenario

PUBLIC_MARTS = {
    "dash_delivery_kpis", "dim_address_quarantine", "fct_address_quarantine_history",
    "fct_message_status", "fct_message_status_history", "fct_profile_history",
    "rpt_confirmation_audit", "rpt_data_quality_findings", "rpt_delivery_domains",
    "rpt_delivery_engagement_hourly", "rpt_delivery_failure_reasons", "rpt_delivery_kpis",
    "rpt_delivery_kpis_hourly", "rpt_exclusion_causes", "rpt_kpi_reconciliation",
    "rpt_proof_and_test_sends", "rpt_source_freshness", "rpt_unqualified_failures",
    # issue 21: the analysts' marts
    "dim_deliveries", "rpt_bounce_details", "rpt_delivery_kpis_daily", "rpt_link_clicks",
    "rpt_opens_by_client",
}


@pytest.fixture(scope="module")
def marts(tmp_path_factory) -> dict[str, dict]:
    """The mart nodes of a real `dbt parse` (duckdb target), by name."""
    home = tmp_path_factory.mktemp("mart-docs-parse")
    settings = load_settings(home)
    run_dbt(settings, home / "parse.duckdb", ["parse"], settings.instant_vars(utc_now()))
    manifest = json.loads(manifest_path(settings).read_text())
    return {n["name"]: n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["schema"] == "marts"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Scenario:
    """A warehouse built from a few rows of every kind."""
    s = Scenario(tmp_path_factory.mktemp("mart-docs-build") / "home")
    s.ingest("deliveries", [
        {"delivery_id": "d1", "label": "January", "channel": "email", "contact_date": "2026-01-05 08:00",
         "efs_enabled": "true", "confirmed_by": "ops", "confirmed_at": "2026-01-05 07:00"},
    ])
    s.ingest("send_log", [
        {"message_id": "m1", "delivery_id": "d1", "profile_id": "p1", "address": "a@example.com",
         "relayed_at": "2026-01-05 08:00"},
        {"message_id": "m2", "delivery_id": "d1", "profile_id": "p2", "address": "b@example.com",
         "relayed_at": "2026-01-05 08:00"},
    ])
    s.ingest("feedback", [
        {"event_id": "f1", "message_id": "m2", "event_at": "2026-01-05 08:30", "outcome": "hard_bounce",
         "failure_reason": "user unknown"},
    ])
    s.ingest("tracking", [
        {"event_id": "t1", "message_id": "m1", "event_at": "2026-01-05 09:00", "type": "open"},
    ])
    s.build("2026-01-10T00:00:00Z")
    return s


@pytest.fixture(scope="module")
def warehouse_columns(built) -> dict[str, dict[str, str]]:
    """{mart: {column: DuckDB type}} of the built warehouse."""
    columns: dict[str, dict[str, str]] = {}
    for row in built.query("select table_name, column_name, data_type from information_schema.columns "
                           "where table_schema = 'marts' order by table_name, ordinal_position"):
        columns.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return columns


def test_the_public_marts_are_the_models_of_schema_marts(marts, warehouse_columns):
    assert set(marts) == PUBLIC_MARTS
    assert set(warehouse_columns) == PUBLIC_MARTS


def test_every_public_mart_enforces_its_contract_on_duckdb(marts):
    unenforced = sorted(name for name, node in marts.items() if not node["config"]["contract"]["enforced"])
    assert unenforced == []
    # dbt demands it of a kept (incremental) model with a contract
    for name, node in marts.items():
        if node["config"]["materialized"] == "incremental":
            assert node["config"]["on_schema_change"] in ("append_new_columns", "fail"), name


def test_every_mart_column_is_described_and_typed_as_built(marts, warehouse_columns):
    problems = []
    for mart, built in sorted(warehouse_columns.items()):
        documented = marts[mart]["columns"]
        for column, data_type in built.items():
            doc = documented.get(column)
            if doc is None:
                problems.append(f"{mart}.{column}: not in the YAML")
                continue
            if not (doc.get("description") or "").strip():
                problems.append(f"{mart}.{column}: no description")
            if (doc.get("data_type") or "").lower() != data_type.lower():
                problems.append(f"{mart}.{column}: data_type {doc.get('data_type')!r}, built as {data_type}")
        for column in set(documented) - set(built):
            problems.append(f"{mart}.{column}: documented but not built")
    assert problems == []


def test_every_rate_says_its_numerator_and_denominator(marts):
    vague = sorted(f"{mart}.{name}" for mart, node in marts.items()
                   for name, column in node["columns"].items()
                   if name.endswith("_rate") and " / " not in (column.get("description") or ""))
    assert vague == []


def test_the_warehouse_carries_every_description_as_a_comment(marts, built):
    """persist_docs: an analyst's `describe` / duckdb_columns() / IDE tooltip shows the YAML
    description of every public mart and of every one of its columns."""
    tables = {r["table_name"]: r["comment"] for r in built.query(
        "select table_name, comment from duckdb_tables() where schema_name = 'marts' union all "
        "select view_name, comment from duckdb_views() where schema_name = 'marts'")}
    assert {t: (c or "").strip() == " ".join(marts[t]["description"].split()) for t, c in tables.items()} == {
        t: True for t in PUBLIC_MARTS}
    missing = []
    for r in built.query("select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"):
        described = " ".join((marts[r["table_name"]]["columns"][r["column_name"]].get("description") or "").split())
        if not r["comment"] or " ".join(r["comment"].split()) != described:
            missing.append(f"{r['table_name']}.{r['column_name']}")
    assert missing == []


def test_exposures_name_what_the_exporter_reads(tmp_path_factory):
    """The exposures (models/marts/_exposures.yml) list what each output reads: the workbook's
    sheets, every public mart for the file exports, and for the HTML report at least the marts
    its sections query."""
    home = tmp_path_factory.mktemp("mart-docs-exposures")
    settings = load_settings(home)
    run_dbt(settings, home / "parse.duckdb", ["parse"], settings.instant_vars(utc_now()))
    manifest = json.loads(manifest_path(settings).read_text())
    reads = {e["name"]: {n.split(".")[-1] for n in e["depends_on"]["nodes"]}
             for e in manifest["exposures"].values()}
    from sendlens.reports.workbook import WORKBOOK_TABLES

    assert set(reads) == {"html_report", "workbook", "file_exports"}
    assert reads["workbook"] == set(WORKBOOK_TABLES)
    assert reads["file_exports"] == PUBLIC_MARTS
    source = "\n".join((Path(__file__).parents[1] / "sendlens" / "reports" / f).read_text()
                       for f in ("report_data.py", "html_report.py", "report_charts.py", "totals.py"))
    used = {m for m in PUBLIC_MARTS if f'"{m}"' in source or f"'{m}'" in source}
    assert used and used <= reads["html_report"] <= PUBLIC_MARTS, used - reads["html_report"]


def test_sendlens_docs_writes_the_site_with_lineage_sources_and_exposures(built, tmp_path):
    from sendlens import pipeline

    page = pipeline.docs(built.settings, tmp_path / "docs")
    assert page == tmp_path / "docs" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "<html" in html.lower() and len(html) > 100_000  # the site with its data inside
    manifest = json.loads((tmp_path / "docs" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "docs" / "catalog.json").read_text())
    assert {e["name"] for e in manifest["exposures"].values()} >= {"html_report", "workbook"}
    assert {s["name"] for s in manifest["sources"].values()} >= {"send_log", "feedback", "tracking"}
    # the lineage: staging reads the lake's sources, the marts read the models before them
    stg = manifest["nodes"]["model.sendlens.stg_send_log"]
    assert "source.sendlens.lake.send_log" in stg["depends_on"]["nodes"]
    # the catalog is the published warehouse's: every public mart, its columns with comments
    tables = {n["metadata"]["name"]: n for n in catalog["nodes"].values()}
    assert PUBLIC_MARTS <= set(tables)
    cols = tables["rpt_delivery_kpis"]["columns"]
    assert cols["delivered_rate"]["comment"], cols["delivered_rate"]
    # read-only: the published warehouse is the same file, and a reader could stay connected
    assert built.settings.warehouse.is_file()
