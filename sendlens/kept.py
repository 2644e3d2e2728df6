"""The kept models, as their ``{{ kept_by(key) }}`` declarations state them (macros/incremental.sql),
read from dbt's manifest: which rows of a model an incremental build recomputed, so that the
data-quality suites validate those rows only (the dbt tests do the same in the
``get_where_subquery`` override, from the same declarations).

A kept model's meta holds ``kept_by`` (its key) and ``kept_rows`` (which rows a build recomputes:
``changed``, ``report``, ``snapshot`` or ``landed``); a view that projects kept models of one key
is validated like them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# the change set of each key (macro kept_change_sets): the model listing the recomputed keys
CHANGE_SETS = {"message_id": "int_changed_messages", "address": "int_changed_addresses",
               "delivery_id": "int_changed_deliveries"}
ROW_MODES = ("changed", "report", "snapshot", "landed")


@dataclass(frozen=True)
class Kept:
    model: str
    key: str
    rows: str


def _models(manifest: dict) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def read_manifest(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def kept_models(manifest: dict) -> dict[str, Kept]:
    """Every model that declares kept_by, by name."""
    found = {}
    for name, node in _models(manifest).items():
        meta = node["config"].get("meta") or {}
        if "kept_by" in meta:
            found[name] = Kept(name, meta["kept_by"], meta.get("kept_rows", "changed"))
    return found


def relation(manifest: dict, name: str) -> str:
    """schema.identifier of a model in the warehouse dbt builds."""
    node = _models(manifest)[name]
    return f"{node['schema']}.{node.get('alias') or name}"


def recomputed_rows(manifest: dict, as_of_moved: bool) -> dict[str, tuple[str, str]]:
    """For each model an incremental build recomputed per key: (key, relation of the change
    set). The reports (kept_rows report / snapshot) count only while as_of stays put (when it
    moved they were recomputed whole); the landed staging models are left out (the landing
    suites read the new batches themselves). A view over kept models of one key counts like them."""
    kept = kept_models(manifest)
    per_key: dict[str, str] = {}
    for name, k in kept.items():
        if k.rows == "changed" or (k.rows in ("report", "snapshot") and not as_of_moved):
            per_key[name] = k.key
    models = _models(manifest)
    for name, node in models.items():
        if name in kept or node["config"].get("materialized") != "view":
            continue
        parents = {n.split(".")[-1] for n in node["depends_on"]["nodes"]}
        keys = {kept[p].key for p in parents if p in kept and kept[p].rows == "changed"}
        if len(keys) == 1:
            per_key[name] = keys.pop()
    return {name: (key, relation(manifest, CHANGE_SETS[key])) for name, key in per_key.items()}


# ---- the manifest check (tests/test_kept_models.py) ----------------------------------------
_COMMENTS = re.compile(r"\{#.*?#\}|--[^\n]*", re.S)
# a relation named by its schema instead of ref() / source() / previous()
_HARD_CODED = re.compile(r"\b(?:staging|intermediate|marts|audit|reference)\.[A-Za-z_]\w*")
_PREVIOUS = re.compile(r"previous\(\s*['\"](\w+)['\"]\s*\)")
BARRIER = "int_build_changes"


def _ancestors(models: dict[str, dict], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        node = models.get(todo.pop())
        for parent in (node or {}).get("depends_on", {}).get("nodes", []):
            parent_name = parent.split(".")[-1]
            if parent.startswith("model.") and parent_name not in seen:
                seen.add(parent_name)
                todo.append(parent_name)
    return seen


def manifest_problems(manifest: dict) -> list[str]:
    """What is wrong with the kept-model declarations and the reads of relations, one line each:
    a model kept between builds (incremental) without its kept_by declaration, a declaration
    with an unknown key or mode, a relation read by a hard-coded name, a `-- depends_on` line
    (lineage comes from ref()), and a previous() read of a model that is not rebuilt after
    int_build_changes (the change sets would read it half-recomputed)."""
    problems = []
    models = _models(manifest)
    for name, node in sorted(models.items()):
        config = node["config"]
        meta = config.get("meta") or {}
        code = node.get("raw_code") or ""
        if config.get("materialized") == "incremental" and "kept_by" not in meta:
            problems.append(f"{name}: kept between builds (incremental) without {{{{ kept_by(key) }}}}")
        if "kept_by" in meta:
            rows = meta.get("kept_rows")
            if rows not in ROW_MODES:
                problems.append(f"{name}: kept_rows is {rows!r}; expected one of {', '.join(ROW_MODES)}")
            elif rows != "landed" and meta["kept_by"] not in CHANGE_SETS:
                problems.append(f"{name}: kept by {meta['kept_by']!r}, which has no change set")
            elif rows != "landed" and BARRIER not in _ancestors(models, name):
                problems.append(f"{name}: kept, but does not run after {BARRIER}")
        bare = _COMMENTS.sub("", code)
        for hit in sorted(set(_HARD_CODED.findall(bare))):
            problems.append(f"{name}: reads {hit} by a hard-coded name (use ref() or previous())")
        if re.search(r"--\s*depends_on\s*:", code):
            problems.append(f"{name}: has a `-- depends_on` line (lineage comes from ref())")
        for read in sorted(set(_PREVIOUS.findall(bare))):
            if read not in models:
                problems.append(f"{name}: previous({read!r}) names no model")
            elif BARRIER not in _ancestors(models, read) and read != name:
                problems.append(f"{name}: previous({read!r}) reads a model not rebuilt after {BARRIER}")
    return problems
