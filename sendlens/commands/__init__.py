"""One module per command (ingest, build, compute-stats, export, run / generate / demo), over
the steps they share (home) and the quality gate (checks). sendlens.pipeline is the library's
front door that re-exports them; the CLI and the tests call that."""
