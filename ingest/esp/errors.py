"""What every email-service-provider mapping shares at the bottom: the constants, the
per-event rejection (``EventRejected``) and the file-level one (``NotJson``).

Imports nothing of the project, so every other ``ingest.esp`` module may import it.
"""

from __future__ import annotations

UNSUPPORTED = "unsupported event type"
WHOLE_EVENT = "(event)"  # the rejected field when the problem is the event as a whole
MACHINE_OPEN_SUFFIX = " (machine open; bot)"
DEFAULT_VALIDITY_HOURS = 84.0
# JSON nested deeper than this is refused per event (Python's parser and every recursive walk
# of an event would otherwise hit the interpreter's recursion limit: an "internal error")
MAX_JSON_DEPTH = 64


class EventRejected(Exception):
    """One event cannot be mapped: it becomes a rejected row (field, reason)."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class NotJson(Exception):
    """The export is neither a JSON document nor JSON Lines."""


def unsupported(field: str | None) -> EventRejected:
    """An event the mapping does not cover; `field` names the field that says its type."""
    return EventRejected(field, UNSUPPORTED)
