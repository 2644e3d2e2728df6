"""The suites on disk: each JSON file of ``suites/`` (written by ``suite_builder``) read into a
``SuiteDef``, with its ``meta.sendlens`` block telling where the rows live. Landing suites
come first, then the marts'.

(Named ``suite_defs`` rather than ``suites`` so that the module and the ``suites/`` folder of
JSON files next to it cannot be mistaken for each other.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SUITES_DIR = Path(__file__).resolve().parent / "suites"


@dataclass(frozen=True)
class SuiteDef:
    name: str
    source: str  # landing | mart
    table: str
    columns: tuple[str, ...]
    optional: bool
    staging_columns: dict[str, str]
    column_types: dict[str, str]
    expectations: tuple[dict, ...]
    raw: dict


def load_suites(suites_dir: Path = SUITES_DIR) -> list[SuiteDef]:
    return list(_load_suites(str(suites_dir)))


@lru_cache(maxsize=4)
def _load_suites(suites_dir: str) -> tuple[SuiteDef, ...]:
    out = []
    for path in sorted(Path(suites_dir).glob("*.json")):
        raw = json.loads(path.read_text())
        meta = raw.get("meta", {}).get("sendlens", {})
        out.append(SuiteDef(
            name=raw["name"],
            source=meta.get("source", "mart"),
            table=meta.get("table", raw["name"]),
            columns=tuple(meta.get("columns", ())),
            optional=bool(meta.get("optional", False)),
            staging_columns=dict(meta.get("staging_columns", {})),
            column_types=dict(meta.get("column_types", {})),
            expectations=tuple(raw.get("expectations", ())),
            raw=raw,
        ))
    order = {"landing": 0, "mart": 1}
    return tuple(sorted(out, key=lambda s: order.get(s.source, 2)))
