"""The bottom layer: small helpers every package may import (``ingest``, ``expectations``,
``reports`` and the rest of ``sendlens``). It imports nothing of the project's own."""
