"""End-to-end benchmark: generate N messages, then measure on this machine, in one run:

  floor        one DuckDB scan of the generated files, every column touched
  baseline     the hand-written analyst SQL (benchmarks/baseline.sql: every message's status in
               both modes and the core delivery KPIs), `python benchmarks/baseline.py` as a
               separate process, whole-command seconds
  ingest       `sendlens ingest` of all six kinds
  build        `sendlens build` (dbt models + tests + data-quality suites + publish)
  incr ingest  a second batch of 1% new messages with their events
  incr build   `sendlens build` again on top, at the same as_of
  cron ingest  a third batch of 1% new messages with their events
  cron build   `sendlens build` on top with as_of moved 15 minutes past the previous build,
               the way a scheduled run makes it
  no-op build  `sendlens build` again: no new batch, as_of unchanged

The floor and the baseline are measured three times, alternating around the sendlens steps
(before the ingest, after the full build, after the incremental builds); the ratios use their
median. Prints rows, wall times, peak RSS, sendlens / baseline, sendlens / floor,
incremental / baseline and incremental / full.

    .venv/bin/python benchmarks/run.py --messages 1000000 [--work /tmp/sendlens-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from sendlens.core.sql import identifier, literal, path_literal

HERE = Path(__file__).resolve().parent
KINDS = ("operators", "deliveries", "send_log", "exclusions", "feedback", "tracking")
RENAMES = {  # columns to prefix so the 1% batch never collides with the first one
    "deliveries": ("delivery_id", "parent_delivery_id", "label"),
    "send_log": ("message_id", "delivery_id"),
    "exclusions": ("delivery_id",),
    "feedback": ("event_id", "message_id"),
    "tracking": ("event_id", "message_id"),
    "operators": (),
}


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of a command and everything it starts."""
    wrapper = (
        "import resource, subprocess, sys, json, time\n"
        "t = time.monotonic()\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'rc': rc, 'seconds': time.monotonic() - t, 'maxrss_kb': ru.ru_maxrss}), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    last = proc.stderr.strip().splitlines()[-1]
    info = json.loads(last)
    if info["rc"] != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(args)}")
    return info["seconds"], info["maxrss_kb"] / 1024 / 1024


def floor_scan(files: dict[str, Path]) -> float:
    con = duckdb.connect()
    started = time.monotonic()
    for kind, path in files.items():
        cols = [r[0] for r in con.execute(f"describe select * from read_parquet({path_literal(path)})").fetchall()]
        touch = ", ".join(f"count(distinct hash({identifier(c)}))" for c in cols)
        con.execute(f"select {touch} from read_parquet({path_literal(path)})").fetchall()
    return time.monotonic() - started


def increment(src: dict[str, Path], out: Path, fraction: float, prefix: str = "b2-") -> dict[str, Path]:
    """A 1% batch: the first `fraction` of messages with their events, ids prefixed `prefix`."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    n = con.execute(f"select count(*) from read_parquet({path_literal(src['send_log'])})").fetchone()[0]
    keep = max(1, int(n * fraction))
    con.execute(f"create table msgs as select message_id from read_parquet({path_literal(src['send_log'])}) limit {keep}")
    paths = {}
    for kind, path in src.items():
        cols = [r[0] for r in con.execute(f"describe select * from read_parquet({path_literal(path)})").fetchall()]
        select = ", ".join(
            (f"case when {identifier(c)} is null then null else {literal(prefix)} || {identifier(c)} end as {identifier(c)}"
             if c in RENAMES[kind] else identifier(c))
            for c in cols)
        where = ""
        if kind in ("send_log", "feedback", "tracking"):
            where = "where message_id in (select message_id from msgs)"
        elif kind in ("deliveries", "exclusions"):
            where = (f"where delivery_id in (select delivery_id from read_parquet({path_literal(src['send_log'])}) "
                     "where message_id in (select message_id from msgs))")
            if kind == "deliveries":
                where += (f" or delivery_id in (select parent_delivery_id from read_parquet({path_literal(path)}) where delivery_id in "
                          f"(select delivery_id from read_parquet({path_literal(src['send_log'])}) where message_id in (select message_id from msgs)))")
        target = out / f"{kind}.parquet"
        con.execute(f"copy (select {select} from read_parquet({path_literal(path)}) {where}) to {literal(target)} (format parquet)")
        paths[kind] = target
    return paths


def moved(as_of: str, minutes: float) -> str:
    """`as_of` (ISO 8601, UTC unless it gives an offset) plus `minutes`, as ISO 8601 UTC."""
    value = datetime.fromisoformat(as_of)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value + timedelta(minutes=minutes)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


STEPS = ("generate", "ingest", "build", "increment")
ROUNDS = ("before ingest", "after build", "after incremental")  # when the floor and baseline run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, default=Path("/tmp/sendlens-bench"))
    ap.add_argument("--as-of", default="2026-01-20T00:00:00Z")
    ap.add_argument("--resume", action="store_true",
                    help="keep the work folder and skip the steps already measured (results.json)")
    ap.add_argument("--stop-after", choices=STEPS, default="increment",
                    help="stop after this step (a long run can be finished later with --resume)")
    args = ap.parse_args()

    work = args.work / f"n{args.messages}"
    state_file = work / "results.json"
    if work.exists() and not args.resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    state: dict = json.loads(state_file.read_text()) if state_file.exists() else {"steps": {}}
    steps: dict[str, list[float]] = state["steps"]

    def record(name: str, secs: float, rss: float) -> None:
        steps[name] = [secs, rss]
        state_file.write_text(json.dumps(state, indent=2))
        print(f"  {name}: {secs:.1f} s, peak RSS {rss:.2f} GB", file=sys.stderr, flush=True)

    home = work / "home"
    env = dict(os.environ, SENDLENS_HOME=str(home))
    sendlens = [sys.executable, "-m", "sendlens"]
    files = {k: work / "input" / f"{k}.parquet" for k in KINDS}

    if "generate" not in steps:
        t, rss = run_measured([*sendlens, "generate", "--messages", str(args.messages), "--seed", str(args.seed),
                               "--out", str(work / "input")], env)
        record("generate", t, rss)
    con = duckdb.connect()
    rows = {k: con.execute(f"select count(*) from read_parquet({path_literal(p)})").fetchone()[0] for k, p in files.items()}
    baseline_cmd = [sys.executable, str(HERE / "baseline.py"), "--input", str(work / "input"), "--as-of", args.as_of]

    def measure_references(round_name: str, baseline_first: bool) -> None:
        """One round of the floor and the baseline (their order alternates between rounds)."""
        def floor() -> None:
            if f"floor {round_name}" not in steps:
                secs = floor_scan(files)
                if "floor" not in steps:  # the first floor, under its old name too
                    record("floor", secs, 0.0)
                record(f"floor {round_name}", secs, 0.0)

        def baseline() -> None:
            if f"baseline {round_name}" not in steps:
                record(f"baseline {round_name}", *run_measured(baseline_cmd, env))

        for measure in ((baseline, floor) if baseline_first else (floor, baseline)):
            measure()

    measure_references(ROUNDS[0], baseline_first=False)

    if "ingest" not in steps:
        ingest_t, ingest_rss = 0.0, 0.0
        for kind in KINDS:
            t, rss = run_measured([*sendlens, "ingest", "--kind", kind, str(files[kind])], env)
            ingest_t += t
            ingest_rss = max(ingest_rss, rss)
        record("ingest", ingest_t, ingest_rss)
    if args.stop_after in ("generate", "ingest"):
        return
    if "build" not in steps:
        record("build", *run_measured([*sendlens, "build", "--as-of", args.as_of], env))
    measure_references(ROUNDS[1], baseline_first=True)
    if args.stop_after == "build":
        return

    def ingest_batch(name: str, batch: dict[str, Path]) -> None:
        if name not in steps:
            total = 0.0
            for kind in KINDS:
                t, _ = run_measured([*sendlens, "ingest", "--kind", kind, str(batch[kind])], env)
                total += t
            record(name, total, 0.0)

    # a 1% batch built at the same as_of (the figure of the earlier benchmarks)
    inc = increment(files, work / "input-1pct", 0.01, prefix="b2-")
    inc_rows = con.execute(f"select count(*) from read_parquet({path_literal(inc['send_log'])})").fetchone()[0]
    ingest_batch("incremental ingest", inc)
    if "incremental build" not in steps:
        record("incremental build", *run_measured([*sendlens, "build", "--as-of", args.as_of], env))
    # the way cron runs it: another 1% batch, and as_of 15 minutes past the previous build
    cron_as_of = moved(args.as_of, 15)
    cron = increment(files, work / "input-1pct-cron", 0.01, prefix="b3-")
    ingest_batch("cron ingest", cron)
    if "cron build" not in steps:
        record("cron build", *run_measured([*sendlens, "build", "--as-of", cron_as_of], env))
    # nothing new, as_of unchanged
    if "no-op build" not in steps:
        record("no-op build", *run_measured([*sendlens, "build", "--as-of", cron_as_of], env))
    measure_references(ROUNDS[2], baseline_first=False)

    labels = {
        "generate": "generate",
        "floor": "floor (one scan, all columns; median)",
        "baseline": "hand-written baseline SQL (median)",
        "ingest": "ingest (6 kinds)",
        "build": "build (models, tests, checks, publish)",
        "incremental ingest": "incremental ingest (1%)",
        "incremental build": "incremental build (1%, same as_of)",
        "cron ingest": "cron ingest (1%)",
        "cron build": "cron build (1%, as_of +15 min)",
        "no-op build": "no-op build (nothing new, same as_of)",
    }
    floors = [steps[f"floor {r}"][0] for r in ROUNDS]
    baselines = [steps[f"baseline {r}"][0] for r in ROUNDS]
    floor = statistics.median(floors)
    base = statistics.median(baselines)
    shown = dict(steps, floor=[floor, 0.0], baseline=[base, max(steps[f"baseline {r}"][1] for r in ROUNDS)])
    print(f"sendlens benchmark: {args.messages:,} messages, seed {args.seed}, as_of {args.as_of}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    print("input rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print(f"{'step':42s} {'seconds':>9s} {'peak RSS GB':>12s}")
    for key, label in labels.items():
        secs, rss = shown[key]
        print(f"{label:42s} {secs:9.2f} {rss:12.2f}")
    print("floor runs (s): " + ", ".join(f"{r} {t:.2f}" for r, t in zip(ROUNDS, floors))
          + f"; median {floor:.2f}, min {min(floors):.2f}")
    print("baseline runs (s): " + ", ".join(f"{r} {t:.2f}" for r, t in zip(ROUNDS, baselines))
          + f"; median {base:.2f}, min {min(baselines):.2f}")
    pipeline = steps["ingest"][0] + steps["build"][0]
    inc_total = steps["incremental ingest"][0] + steps["incremental build"][0]
    cron_total = steps["cron ingest"][0] + steps["cron build"][0]
    print(f"sendlens (ingest + full build) / baseline: {pipeline / base:.1f}x "
          f"(against the fastest baseline run {pipeline / min(baselines):.1f}x)")
    print(f"sendlens (ingest + full build) / floor: {pipeline / floor:.1f}x")
    print(f"incremental ({inc_rows:,} new messages, as_of +15 min: cron) ingest + build / baseline: "
          f"{cron_total / base:.2f}x; build alone {steps['cron build'][0] / base:.2f}x")
    print(f"incremental at the same as_of, ingest + build / baseline: {inc_total / base:.2f}x")
    print(f"no-op build: {steps['no-op build'][0]:.1f} s")
    print(f"incremental ingest + build / full: {inc_total / pipeline:.2f} (same as_of), "
          f"{cron_total / pipeline:.2f} (as_of +15 min); build alone "
          f"{steps['incremental build'][0] / steps['build'][0]:.2f}, {steps['cron build'][0] / steps['build'][0]:.2f}")
    size = sum(p.stat().st_size for p in home.rglob('*') if p.is_file())
    print(f"home on disk: {size / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
