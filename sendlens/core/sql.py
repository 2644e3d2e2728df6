"""The one place where a value becomes SQL text.

Values are bound as parameters wherever DuckDB takes them (``con.execute(sql, [value])``).
Where it cannot -- ``COPY ... TO``, ``SET``, a file argument of a view, SQL that dbt renders --
the text is made here and nowhere else:

- ``literal``: a string literal (quotes doubled; a NUL character is refused);
- ``identifier``: a quoted identifier;
- ``glob_escape`` / ``path_literal``: a file path that DuckDB's readers (``read_csv``,
  ``read_parquet``, ``read_json``) must match as itself. Those readers expand ``*``, ``?`` and
  ``[...]`` even in a bound parameter, so ``a[1].csv`` would read ``a1.csv``; each such
  character is written as a one-character class (``[[]``, ``[*]``, ``[?]``), which matches
  only that character.
"""

from __future__ import annotations

from os import PathLike

GLOB_CHARS = frozenset("[*?")


def _text(value: object) -> str:
    text = str(value) if not isinstance(value, PathLike) else str(value.__fspath__())
    if "\x00" in text:
        raise ValueError(f"a NUL character cannot be part of an SQL value: {text!r}")
    return text


def literal(value: object) -> str:
    """``value`` as an SQL string literal."""
    return "'" + _text(value).replace("'", "''") + "'"


def identifier(name: object) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + _text(name).replace('"', '""') + '"'


def glob_escape(path: object) -> str:
    """A path whose glob characters match only themselves in DuckDB's file readers."""
    return "".join(f"[{c}]" if c in GLOB_CHARS else c for c in _text(path))


def path_literal(path: object) -> str:
    """A literal naming exactly one file (or folder) for DuckDB's readers."""
    return literal(glob_escape(path))


def glob_literal(root: object, pattern: str) -> str:
    """A literal for the files matching ``pattern`` (the project's own, with its wildcards)
    under ``root`` (a value: its glob characters are escaped)."""
    return literal(glob_escape(root) + pattern)


__all__ = ["literal", "identifier", "glob_escape", "path_literal", "glob_literal", "GLOB_CHARS"]
