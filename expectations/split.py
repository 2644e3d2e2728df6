"""A suite's expectations grouped by the columns they read, so that each group is validated on
a frame of those columns only (great-expectations filters the whole frame per expectation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class _Part:
    """Expectations of one suite that read the same columns, validated on those columns only.

    great-expectations' pandas engine filters the whole frame (every column) for each
    expectation's domain (non-null rows, a row condition): on a narrow frame that costs a
    fraction. ``columns`` None is the whole frame, empty is the schema (a zero-row frame).
    """

    suite: Any
    columns: frozenset[str] | None
    positions: tuple[int, ...]  # the expectations' positions in the suite
    index: dict[str, int]  # expectation id -> position


def _condition_columns(condition: Any) -> set[str] | None:
    """The columns a structured row condition names; None when it cannot be read (a string)."""
    if not isinstance(condition, (dict, list)):
        return None
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "column" and isinstance(value, str):
                    names.add(value)
                elif key == "column" and isinstance(value, dict) and isinstance(value.get("name"), str):
                    names.add(value["name"])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(condition)
    return names


def _expectation_columns(exp: dict) -> frozenset[str] | None:
    """The columns one expectation reads: empty for a schema check, None for the whole frame."""
    if exp.get("type") == "expect_column_to_exist":
        return frozenset()
    kwargs = exp.get("kwargs", {})
    columns = {kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)}
    if kwargs.get("row_condition") is not None:
        named = _condition_columns(kwargs["row_condition"])
        if named is None:
            return None
        columns |= named
    return frozenset(columns) if columns else None


def _split(expectations: tuple[dict, ...]) -> list[tuple[frozenset[str] | None, tuple[int, ...]]]:
    """Group a suite's expectations into parts that share columns (connected column sets)."""
    groups: list[tuple[frozenset[str] | None, list[int]]] = []
    for i, exp in enumerate(expectations):
        columns = _expectation_columns(exp)
        if not columns:  # the schema part, or the whole-frame part
            for n, (cols, members) in enumerate(groups):
                if cols == columns and (cols is None or not cols):
                    members.append(i)
                    break
            else:
                groups.append((columns, [i]))
            continue
        merged, members = set(columns), [i]
        kept = []
        for cols, group in groups:
            if cols and cols & merged:
                merged |= cols
                members.extend(group)
            else:
                kept.append((cols, group))
        groups = kept + [(frozenset(merged), members)]
    return [(cols, tuple(sorted(members))) for cols, members in groups]
