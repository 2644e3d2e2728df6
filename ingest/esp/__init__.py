"""Imports of email-service-provider event exports (Amazon SES, SendGrid, Mailgun, Postmark,
SparkPost) and of MTA logs (KumoMTA, Postfix, PowerMTA) onto the canonical ``send_log``,
``feedback``, ``tracking`` and derived ``deliveries`` rows. One module per source maps parsed
events (pure functions); ``writer`` lands the result as one atomic batch. A source whose file
is not plain JSON events has its own ``read(path) -> list[RawEvent]`` (KumoMTA's compressed log
segments and report matching, Postfix maillog lines, PowerMTA accounting CSV). The mapping
decisions: docs/esp-mapping.md and docs/mta-mapping.md.

    ingest_export(con, lake, "sendgrid", Path("events.json"))  # -> [IngestOutcome]

The delivery key (campaign, tag, category, configuration set) is taken from a configurable
field: the ``delivery_field`` argument, else ``$SENDLENS_<SOURCE>_DELIVERY_FIELD``, else
``$SENDLENS_ESP_DELIVERY_FIELD``, else the provider's default. It is a dotted path into the
event (comma-separated alternatives are tried in order); a bare name is also looked up among
the provider's custom metadata (SES message tags, SendGrid custom args, Mailgun user-variables,
Postmark Metadata, SparkPost rcpt_meta).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import duckdb

from sendlens.ingest.contracts import SOURCES, Bounds
from sendlens.ingest.esp import kumomta, mailgun, postfix, postmark, powermta, sendgrid, ses, sparkpost
from sendlens.ingest.esp.errors import NotJson
from sendlens.ingest.esp.events import read_events
from sendlens.ingest.esp.mapping import Mapped, delivery_paths, map_all
from sendlens.ingest.lake import Lake, sha256_of
from sendlens.ingest.land import IngestError, IngestOutcome

PROVIDERS: dict[str, ModuleType] = {
    "ses": ses,
    "sendgrid": sendgrid,
    "mailgun": mailgun,
    "postmark": postmark,
    "sparkpost": sparkpost,
    "kumomta": kumomta,
    "postfix": postfix,
    "powermta": powermta,
}
assert tuple(PROVIDERS) == SOURCES, "the --source formats are declared in ingest.contracts"


def map_export(source: str, path: Path, delivery_field: str | None = None,
               bounds: Bounds | None = None) -> Mapped:
    """Read and map one export without writing anything (pure apart from reading the file).
    ``bounds``: the range rules applied to the mapped rows (None: ``Bounds()`` defaults)."""
    provider = _provider(source)
    read = getattr(provider, "read", read_events)  # JSON events unless the source reads its own format
    try:
        events = read(path)
    except NotJson as exc:
        raise IngestError(f"{path}: {exc}") from None
    except RecursionError:  # never expected: read_events bounds the nesting it walks
        raise IngestError(f"{path}: JSON nested too deeply to read") from None
    ctx = provider.context(delivery_paths(source, delivery_field, provider.DEFAULT_DELIVERY_FIELDS))
    mapped = map_all(source, events, provider.map_event, ctx, bounds)
    mapped.notes = list(getattr(events, "notes", []))  # what a reader skipped (Postfix: lines that are not records)
    return mapped


def ingest_export(con: duckdb.DuckDBPyConnection, lake: Lake, source: str, path: Path,
                  delivery_field: str | None = None, bounds: Bounds | None = None) -> list[IngestOutcome]:
    """Land one provider export as one batch. Re-ingesting the same content is a no-op.
    ``bounds``: the range rules (None: ``Bounds()`` defaults), as for canonical files."""
    from sendlens.ingest.esp.writer import write_batch

    _provider(source)
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    sha = sha256_of(path)
    earlier = lake.find_batch(con, source, sha)
    if earlier is not None:
        return [IngestOutcome(str(path), source, 0, 0, 0, "already_ingested", earlier.batch_id,
                              [f"{path}: same content already ingested as batch {earlier.batch_id}; nothing landed"])]
    mapped = map_export(source, path, delivery_field, bounds)
    return [write_batch(con, lake, mapped, path, sha)]


def _provider(source: str) -> ModuleType:
    try:
        return PROVIDERS[source]
    except KeyError:
        raise IngestError(f"unknown ESP source {source!r}; expected one of {', '.join(PROVIDERS)}") from None


__all__ = ["ingest_export", "map_export", "PROVIDERS", "SOURCES"]
