"""The HTML report's charts: the dicts of ``report_data`` drawn as inline SVG (``charts``).

``charts`` escapes every text it draws (labels, titles, tooltips), so its SVG goes into the
templates as :class:`markupsafe.Markup`; nothing else from the warehouse does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup

from .charts import PALETTE, Bar, Series, hbar_chart, line_chart
from .format import fmt_ts, num, to_utc

TOP_REASONS = 15


def hour_ticks(span_h: float, start: dt.datetime | None, relative: bool = True,
               max_ticks: int = 8) -> list[tuple[float, str]]:
    """Ticks every 1, 2, 3 ... hours (or days) over ``span_h`` hours: "+6h" / "+2d" relative
    to the start, else the instants ("05 Jan 08:00" / "05 Jan")."""
    step = 1
    for s in (1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720):
        step = s
        if span_h / s <= max_ticks:
            break
    ticks = []
    h = 0
    while h <= span_h + 1e-9:
        if relative or start is None:
            lab = f"+{h}h" if step < 24 else f"+{h // 24}d"
        else:
            t = start + dt.timedelta(hours=h)
            lab = t.strftime("%d %b %H:%M") if step < 24 else t.strftime("%d %b")
        ticks.append((float(h), lab))
        h += step
    return ticks


def hourly_chart(did: Any, label: str | None, modes: dict[str, list[dict]]) -> Markup:
    """Delivered % and bounces + errors % per hour of one delivery: solid standard, dashed EFS."""
    start = min(to_utc(r["hour_start"]) for rs in modes.values() for r in rs)

    def x(v: Any) -> float:
        return (to_utc(v) - start).total_seconds() / 3600

    series = []
    for mode in sorted(modes, key=lambda s: (s != "standard", s)):
        rs = modes[mode]
        dashed = mode != "standard"
        tips = [f"{fmt_ts(r['hour_start'])} (+{x(r['hour_start']):g}h)" for r in rs]
        name = "EFS" if mode == "efs" else mode
        series.append(Series(f"Delivered % ({name})", [(x(r["hour_start"]), num(r["delivered_rate"])) for r in rs],
                             PALETTE["delivered"], dashed, tips))
        series.append(Series(f"Bounces + errors % ({name})",
                             [(x(r["hour_start"]), num(r["bounces_errors_rate"])) for r in rs],
                             PALETTE["bounces"], dashed, tips))
    span = max(px for s in series for px, _ in s.points)
    title = f"{did}" + (f" · {label}" if label else "")
    return Markup(line_chart(series, title=title, y_percent=True, x_ticks=hour_ticks(max(span, 1), start),
                             x_title=f"hours since {fmt_ts(start)}", y_title="share of messages",
                             end_labels=True, aria_label=f"Hourly delivered and bounce rates for {did}"))


def failures_chart(reasons: list[dict]) -> dict:
    """The bar chart of failed messages by reason (coloured by type), its total and the
    split by type."""
    total = sum(int(r["n"] or 0) for r in reasons)
    bars = []
    for r in reasons[:TOP_REASONS]:
        n = r["n"] or 0
        ftype = str(r["ftype"]).lower() if r["ftype"] is not None else ""
        label = str(r["reason"]) + (f" ({ftype})" if ftype else "")
        share = n / total if total else 0
        bars.append(Bar(label, n, PALETTE.get(ftype, PALETTE["other"]),
                        tooltip=f"{label}: {n:,.0f} messages, {share * 100:.1f}% of failures",
                        value_text=f"{n:,.0f} · {share * 100:.1f}%"))
    rest = reasons[TOP_REASONS:]
    if rest:
        n = sum(r["n"] or 0 for r in rest)
        bars.append(Bar(f"{len(rest)} more reasons", n, PALETTE["other"],
                        value_text=f"{n:,.0f} · {n / total * 100:.1f}%"))
    by_type: dict[str, float] = {}
    for r in reasons:
        k = str(r["ftype"]).lower() if r["ftype"] is not None else "unknown"
        by_type[k] = by_type.get(k, 0) + (r["n"] or 0)
    summary = " · ".join(f"{k} {v:,.0f} ({v / total * 100:.1f}%)"
                         for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])) if total else ""
    svg = hbar_chart(bars, title=f"Failed messages by reason ({total:,})", width=1000,
                     aria_label="Failed messages by reason")
    return {"svg": Markup(svg), "total": total, "summary": summary}


def engagement_chart(data: dict) -> Markup:
    """Opens and clicks per hour (or day) over all deliveries."""
    got, unit = data["rows"], data["unit"]
    start = to_utc(got[0]["b"])
    xs = [(to_utc(r["b"]) - start).total_seconds() / 3600 for r in got]
    labels = [fmt_ts(r["b"]) for r in got]
    series = [Series(f"opens per {unit}", list(zip(xs, [num(r["o"]) for r in got])), PALETTE["opens"], False, labels),
              Series(f"clicks per {unit}", list(zip(xs, [num(r["c"]) for r in got])), PALETTE["clicks"], False,
                     labels)]
    return Markup(line_chart(series, title=f"Opens and clicks per {unit}, all deliveries", y_percent=False,
                             x_ticks=hour_ticks(max(xs[-1], 1), start, relative=False), width=1000,
                             height=300, x_title="time (UTC)", y_title="events",
                             aria_label="Opens and clicks over time"))


def quarantine_chart(data: dict) -> Markup:
    """Addresses by quarantine status."""
    total = data["total"]
    bars = [Bar(row["status"], row["total"], PALETTE.get(row["status"], PALETTE["other"]),
                value_text=f"{row['total']:,} · {row['total'] / total * 100:.1f}%" if total else f"{row['total']:,}")
            for row in data["table"]]
    return Markup(hbar_chart(bars, title=f"Addresses by status ({total:,})", width=560,
                             aria_label="Addresses by quarantine status"))
