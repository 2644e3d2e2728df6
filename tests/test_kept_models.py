"""The manifest check of issue 18: every kept model declares its key once ({{ kept_by(key) }}),
no model reads a relation by a hard-coded name, lineage runs the natural way (no reversed
`-- depends_on` lines), and the change sets read only models rebuilt after them. Read from the
manifest of a real `dbt parse` of the project; the check itself is proven to fail on a
manifest with each kind of fault."""

from __future__ import annotations

import copy
import json

import pytest

from sendlens import kept
from sendlens.config import load_settings, utc_now
from sendlens.dbt_runner import manifest_path, run_dbt


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("kept-home")
    settings = load_settings(home)
    run_dbt(settings, home / "parse.duckdb", ["parse"], settings.instant_vars(utc_now()))
    return json.loads(manifest_path(settings).read_text())


def _model(manifest: dict, name: str) -> dict:
    return next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)


def test_the_project_passes_the_manifest_check(manifest):
    assert kept.manifest_problems(manifest) == []


def test_every_kept_model_is_declared_with_its_key(manifest):
    declared = kept.kept_models(manifest)
    assert declared["int_messages"] == kept.Kept("int_messages", "message_id", "changed")
    assert declared["int_quarantine_states"].key == "address"
    assert declared["rpt_delivery_kpis"] == kept.Kept("rpt_delivery_kpis", "delivery_id", "report")
    assert declared["dash_delivery_kpis"].rows == "snapshot"
    assert declared["stg_feedback"] == kept.Kept("stg_feedback", "event_id", "landed")
    incremental = {n["name"] for n in manifest["nodes"].values()
                   if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"}
    assert incremental == set(declared)
    # lineage runs the natural way: a kept model depends on its inputs, its key's change set and
    # the barrier after all change sets, not on the other keys' change sets
    assert set(_model(manifest, "int_messages")["depends_on"]["nodes"]) == {
        "model.sendlens.int_build_changes", "model.sendlens.int_changed_messages",
        "model.sendlens.stg_send_log", "model.sendlens.stg_deliveries"}


def test_the_suites_restrictions_come_from_the_declarations(manifest):
    moved = kept.recomputed_rows(manifest, as_of_moved=True)
    assert moved["fct_message_status"] == ("message_id", "intermediate.int_changed_messages")
    assert moved["dim_address_quarantine"] == ("address", "intermediate.int_changed_addresses")
    assert "rpt_delivery_kpis" not in moved  # recomputed whole when as_of moved
    assert "stg_send_log" not in moved  # the landing suites read the new batches themselves
    still = kept.recomputed_rows(manifest, as_of_moved=False)
    assert still["rpt_delivery_kpis"] == ("delivery_id", "intermediate.int_changed_deliveries")


def test_the_check_fails_on_an_undeclared_kept_model(manifest):
    broken = copy.deepcopy(manifest)
    _model(broken, "int_messages")["config"]["meta"] = {}
    assert "int_messages: kept between builds (incremental) without {{ kept_by(key) }}" in kept.manifest_problems(broken)


def test_the_check_fails_on_a_hard_coded_relation_and_a_depends_on_line(manifest):
    broken = copy.deepcopy(manifest)
    node = _model(broken, "rpt_delivery_domains")
    node["raw_code"] += "\n-- depends_on: {{ ref('int_changed_deliveries') }}\nunion all select * from intermediate.int_messages"
    problems = kept.manifest_problems(broken)
    assert "rpt_delivery_domains: reads intermediate.int_messages by a hard-coded name (use ref() or previous())" in problems
    assert "rpt_delivery_domains: has a `-- depends_on` line (lineage comes from ref())" in problems


def test_the_check_fails_on_a_previous_read_of_a_model_built_before_the_change_sets(manifest):
    broken = copy.deepcopy(manifest)
    node = _model(broken, "int_changed_addresses")
    node["raw_code"] += "\n{{ previous('stg_deliveries') }}"
    assert ("int_changed_addresses: previous('stg_deliveries') reads a model not rebuilt after int_build_changes"
            in kept.manifest_problems(broken))
    node = _model(broken, "int_messages")
    node["depends_on"]["nodes"].remove("model.sendlens.int_build_changes")
    assert "int_messages: kept, but does not run after int_build_changes" in kept.manifest_problems(broken)
