"""`sendlens` command line: a thin layer over sendlens.pipeline (SPEC section 7)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sendlens.ingest.contracts import KINDS, SOURCES
from sendlens.config import load_settings, parse_timestamp, utc_now
from sendlens.core import output
from sendlens.errors import SendlensError


def _timestamp(text: str):
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _verbosity_options() -> argparse.ArgumentParser:
    """-q / -v, accepted before or after the command (``sendlens -q run``, ``sendlens run -q``)."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const="quiet",
                   default=argparse.SUPPRESS,
                   help="print only warnings and errors (a scheduled run that went well prints nothing)")
    g.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const="verbose",
                   default=argparse.SUPPRESS,
                   help="print the detail under each step too: every dbt model and test, every file written")
    return common


class _Sub(argparse._SubParsersAction):
    """Every command takes the verbosity options too."""

    def add_parser(self, name, **kwargs):  # type: ignore[override]
        kwargs.setdefault("parents", []).append(_verbosity_options())
        return super().add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sendlens",
        description="Delivery reporting for marketing messages: land raw logs, derive sending-log "
                    "statuses and KPIs with dbt on DuckDB, check, publish, export.",
        parents=[_verbosity_options()],
    )
    p.register("action", "parsers", _Sub)
    p.set_defaults(verbosity="normal")
    p.add_argument("--home", help="home directory (default: $SENDLENS_HOME, else ./sendlens-home)")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("ingest", help="validate and land input files in the lake",
                       description="Land files of one kind (format from the extension: .parquet, "
                                   ".csv, .jsonl). Rejected rows are kept with a reason.")
    s.add_argument("--kind", metavar="KIND", help=f"the landing kind of the files: {', '.join(KINDS)}")
    s.add_argument("--source", choices=SOURCES,
                   help="read an email service provider's event export (ses, sendgrid, mailgun, postmark, "
                        "sparkpost) or an MTA's log (kumomta, postfix, powermta) instead of a canonical kind")
    s.add_argument("--delivery-field",
                   help="with --source: the event field that names the delivery (see docs/esp-mapping.md)")
    s.add_argument("--json", action="store_true", help="print one JSON object per file")
    s.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="the files to land (each file is one batch; re-ingesting the same content is a no-op)")

    s = sub.add_parser("build", help="build and check every model as of an instant, then publish",
                       description="Run the dbt models and tests and the data-quality suites as of "
                                   "--as-of (default now); publish the warehouse only if all pass.")
    s.add_argument("--as-of", type=_timestamp, help="ISO 8601 instant, UTC unless an offset is given")
    s.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="duckdb (default): publish the DuckDB warehouse; spark: run the same models "
                        "on Apache Spark (extra `spark`, Java 17) and publish the marts as Parquet "
                        "under <home>/warehouse/spark-marts/")
    s.add_argument("--full-refresh", action="store_true",
                   help="rebuild every model from the whole lake instead of only what new batches "
                        "or a later as_of change (same result, slower)")

    s = sub.add_parser("compute-stats", help="refresh the deployment dashboard snapshot",
                       description="Like the 'Compute stats' button: refresh dash_delivery_kpis "
                                   "(all deliveries, or one) at --at (default now).")
    s.add_argument("--delivery", help="only this delivery_id")
    s.add_argument("--at", type=_timestamp, help="ISO 8601 instant (default now)")

    s = sub.add_parser("export", help="write the report files (CSV, Parquet, Excel, HTML)")
    s.add_argument("--out", type=Path, help="output directory (default <home>/exports/<run-id>)")
    s.add_argument("--include-pii", action="store_true", help="do not mask addresses")

    s = sub.add_parser("docs", help="write dbt's documentation site of the warehouse (lineage included)",
                       description="Every model, column, test, source and exposure of the published "
                                   "warehouse with the lineage graph, as one HTML file that opens "
                                   "from disk (dbt docs generate --static).")
    s.add_argument("--out", type=Path, help="output directory (default <home>/exports/docs)")

    s = sub.add_parser("run", help="scheduled batch: ingest the inbox, build, export")
    s.add_argument("--as-of", type=_timestamp, help="build instant (default now)")
    s.add_argument("--include-pii", action="store_true", help="do not mask addresses in exports")

    s = sub.add_parser("batches", help="list the landed batches, or retire a bad one",
                       description="Without an action: every landed (and retired) batch with its "
                                   "counts. `batches retire ID --reason TEXT` takes a batch out of "
                                   "the lake (kept under <home>/retired/, recorded in "
                                   "audit.retired_batches); the next build is a full one.")
    s.add_argument("--json", action="store_true", help="print one JSON object per batch")
    actions = s.add_subparsers(dest="action", metavar="ACTION")
    r = actions.add_parser("retire", help="take a landed batch out of the lake, with a reason")
    r.add_argument("batch_id", metavar="ID", help="the batch id (see `sendlens batches`)")
    r.add_argument("--reason", required=True, help="why (kept in the retirement record)")

    s = sub.add_parser("config", help="print the effective settings and where each came from",
                       description="Every setting with its value and its source: the default, "
                                   "<home>/sendlens.toml, or a SENDLENS_<NAME> environment variable.")
    s.add_argument("--json", action="store_true", help="print one JSON object per setting")
    s.add_argument("--dbt-vars", action="store_true",
                   help="print the dbt vars these settings give, as JSON, for a dbt run by hand: "
                        "dbt build --vars \"$(sendlens config --dbt-vars)\"")

    s = sub.add_parser("generate", help="write a realistic synthetic data set",
                       description="Write a synthetic sample of every landing kind (deliveries, "
                                   "send log, exclusions, feedback, tracking, operators) as files "
                                   "ready for `sendlens ingest`; the same seed gives the same files.")
    s.add_argument("--messages", type=_positive_int, default=20_000,
                   help="how many sending-log messages (default 20000)")
    s.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    s.add_argument("--out", type=Path, required=True, help="the folder to write the files into")

    s = sub.add_parser("demo", help="generate a sample and run the whole pipeline on it",
                       description="Generate a sample into <home>/sample, then ingest, build, "
                                   "check, publish and export it (the built-in sample data).")
    s.add_argument("--messages", type=_positive_int, default=20_000,
                   help="how many sending-log messages (default 20000)")
    s.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sendlens")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


_progress = output.step  # a step line: logged at INFO (stderr; see sendlens/core/output.py)


def _fail(prefix: str, text: str) -> None:
    """An error on stderr with its headline as the last line (what cron mails and `tail -1`
    show): the detail lines first, indented, then ``sendlens: error: <headline>``."""
    head, *detail = str(text).splitlines() or [""]
    for line in detail:
        print(f"  {line}" if line.strip() else "", file=sys.stderr)
    print(f"{prefix}{head}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output.configure(args.verbosity)
    from sendlens import pipeline  # imported late: --help stays fast
    try:
        settings = load_settings(args.home)
        return _dispatch(args, settings, pipeline)
    except SendlensError as exc:
        _fail("sendlens: error: ", str(exc))
        return exc.exit_code
    except (ValueError, OSError) as exc:
        _fail("sendlens: error: ", str(exc))
        return 1
    except KeyboardInterrupt:
        print("sendlens: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        _fail("sendlens: internal error: ", f"{type(exc).__name__}: {exc}")
        return 70


def _say(args: argparse.Namespace, text: str) -> None:
    """A command's result on stdout; nothing with --quiet (cron mails only what went wrong)."""
    if args.verbosity != "quiet":
        print(text)


def _dispatch(args: argparse.Namespace, settings, pipeline) -> int:
    cmd = args.command
    if cmd == "ingest":
        if not args.kind and not args.source:
            raise SendlensError("ingest needs --kind KIND (or --source ESP)")
        if args.kind and args.source:
            raise SendlensError("give either --kind or --source, not both")
        if args.delivery_field and not args.source:
            raise SendlensError("--delivery-field only applies with --source")
        outcomes = pipeline.ingest(settings, args.kind or "", list(args.files), source=args.source,
                                   delivery_field=args.delivery_field)
        for o in outcomes:
            for w in o.warnings:
                output.LOG.warning(w)
            if args.json:
                print(json.dumps(o.as_json()))
            else:
                verb = "already ingested" if o.status == "already_ingested" else "landed"
                _say(args, f"{o.file} [{o.kind}]: {verb}: read {o.rows_read}, landed {o.rows_landed}, "
                           f"rejected {o.rows_rejected} (batch {o.batch_id})")
        return 0
    if cmd == "build":
        result = pipeline.build(settings, args.as_of, progress=_progress, engine=args.engine,
                                full_refresh=args.full_refresh)
        _say(args, f"built ({result.mode}) as of {result.as_of.isoformat()} in {result.seconds:.1f}s: "
                   f"{result.warehouse}")
        return 0
    if cmd == "compute-stats":
        path = pipeline.compute_stats(settings, args.at, args.delivery, progress=_progress)
        _say(args, f"dashboard refreshed: {path}")
        return 0
    if cmd == "export":
        result = pipeline.export(settings, args.out, include_pii=args.include_pii, progress=_progress)
        _say(args, f"exported to {result.out_dir} (report: {result.html_report})")
        return 0
    if cmd == "docs":
        page = pipeline.docs(settings, args.out, progress=_progress)
        _say(args, f"documentation site: {page}")
        return 0
    if cmd == "run":
        summary = pipeline.run(settings, args.as_of, include_pii=args.include_pii, progress=_progress)
        _say(args, summary)
        return 0
    if cmd == "config":
        if args.dbt_vars:
            print(json.dumps(settings.dbt_vars(utc_now())))
            return 0
        for name, value, source, doc in settings.effective():
            if args.json:
                print(json.dumps({"name": name, "value": value, "source": source, "doc": doc}))
            else:
                shown = json.dumps(list(value)) if isinstance(value, tuple) else json.dumps(value)
                print(f"{name} = {shown}  # {source}: {doc}")
        return 0
    if cmd == "batches":
        from sendlens import batches

        if args.action == "retire":
            done = batches.retire(settings, args.batch_id, args.reason)
            print(f"retired batch {done.batch_id} ({done.kind}, {done.rows_landed} rows landed): "
                  f"kept in {done.moved_to}; the next build is a full one")
            return 0
        for b in batches.list_batches(settings):
            if args.json:
                print(json.dumps(b, default=str))
            else:
                extra = f", retired {b['retired_at']}: {b['reason']}" if b["status"] == "retired" else ""
                print(f"{b['batch_id']}  {b['kind']:<10} read {b['rows_read']}, landed {b['rows_landed']}, "
                      f"rejected {b['rows_rejected']}  {b['file']}{extra}")
        return 0
    if cmd == "generate":
        paths = pipeline.generate(args.out, args.messages, args.seed, progress=_progress)
        for kind, path in paths.items():
            print(f"{kind}: {path}")
        return 0
    if cmd == "demo":
        _say(args, pipeline.demo(settings, args.messages, args.seed, progress=_progress))
        return 0
    raise SendlensError(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
