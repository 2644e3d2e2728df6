"""The HTML report's charts: the dicts of ``report_data`` drawn as inline SVG (``charts``).

``charts`` escapes every text it draws (labels, titles, tooltips), so its SVG goes into the
templates as :class:`markupsafe.Markup`; nothing else from the warehouse does.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from markupsafe import Markup

from .charts import PALETTE, Bar, Series, hbar_chart, line_chart
from .format import fmt_ts, num, to_utc

TOP_REASONS = 15
# device classes (Okabe-Ito): blue, orange, reddish purple, grey
DEVICE_COLOURS = {"desktop": "#0072B2", "mobile": "#E69F00", "tablet": "#CC79A7", "other": "#999999"}


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


def hourly_chart(did: Any, label: str | None, modes: dict[str, list[dict]]) -> dict[str, Markup]:
    """Per hour of one delivery: delivered % on a 0-100% axis, and bounces + errors % on a scale
    of its own (2-5% must not sit in the bottom pixels of 0-100%). Standard mode solid with round
    markers, EFS dashed with square ones: the modes differ by line and mark, not colour alone."""
    start = min(to_utc(r["hour_start"]) for rs in modes.values() for r in rs)

    def x(v: Any) -> float:
        return (to_utc(v) - start).total_seconds() / 3600

    delivered, bounces = [], []
    for mode in sorted(modes, key=lambda s: (s != "standard", s)):
        rs = modes[mode]
        dashed = mode != "standard"
        marker = "square" if dashed else "circle"
        tips = [f"{fmt_ts(r['hour_start'])} (+{x(r['hour_start']):g}h)" for r in rs]
        name = "EFS" if mode == "efs" else mode
        delivered.append(Series(f"Delivered % ({name})", [(x(r["hour_start"]), num(r["delivered_rate"])) for r in rs],
                                PALETTE["delivered"], dashed, tips, marker))
        bounces.append(Series(f"Bounces + errors % ({name})",
                              [(x(r["hour_start"]), num(r["bounces_errors_rate"])) for r in rs],
                              PALETTE["bounces"], dashed, tips, marker))
    span = max(px for s in delivered for px, _ in s.points)
    title = f"{did}" + (f" · {label}" if label else "")
    ticks = hour_ticks(max(span, 1), start)
    common = dict(x_ticks=ticks, x_title=f"hours since {fmt_ts(start)}", end_labels=True, height=250)
    return {
        "delivered": Markup(line_chart(delivered, title=f"{title}: delivered %", y_percent=True,
                                       y_title="share of messages", **common,
                                       aria_label=f"Hourly delivered rate for {did}")),
        "bounces": Markup(line_chart(bounces, title=f"{title}: bounces + errors %", y_percent=True, y_auto=True,
                                     y_title="share of messages (own scale)", **common,
                                     aria_label=f"Hourly bounce and error rate for {did}, on its own scale")),
    }


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
              Series(f"clicks per {unit}", list(zip(xs, [num(r["c"]) for r in got])), PALETTE["clicks"], True,
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


def daily_charts(data: dict) -> dict[str, Markup]:
    """Per calendar day: messages sent, the bounce rate on a scale of its own, and the unique
    open rate (with machine opens excluded beside it) and click rate."""
    got, zone = data["rows"], data["zone"] or "UTC"
    days = [r["day"] for r in got]
    xs = [float(i) for i in range(len(days))]
    labels = [d.strftime("%a %d %b %Y") for d in days]
    step = max(1, math.ceil(len(days) / 8))
    ticks = [(x, d.strftime("%d %b")) for x, d in zip(xs, days)][::step]
    common = dict(x_ticks=ticks, x_title=f"day ({zone})", height=260, width=480)
    sent = line_chart([Series("messages sent", list(zip(xs, [num(r["sent"]) for r in got])), PALETTE["neutral"],
                              False, labels)], title="Messages sent per day", y_percent=False,
                      y_title="messages", aria_label="Messages sent per day", **common)
    bounces = line_chart([Series("bounces + errors %", list(zip(xs, [num(r["bounce_rate"]) for r in got])),
                                 PALETTE["bounces"], False, labels)], title="Bounce rate per day (own scale)",
                         y_percent=True, y_auto=True, y_title="of processed",
                         aria_label="Bounce rate per day, on its own scale", **common)
    engagement = line_chart([
        Series("unique open rate", list(zip(xs, [num(r["open_rate"]) for r in got])), PALETTE["opens"], False,
               labels, "circle"),
        Series("open rate, machine opens excluded", list(zip(xs, [num(r["open_rate_excl_machine"]) for r in got])),
               PALETTE["opens"], True, labels, "square"),
        Series("unique click rate", list(zip(xs, [num(r["click_rate"]) for r in got])), PALETTE["clicks"], False,
               labels, "diamond")], title="Unique open and click rates per day", y_percent=True, y_auto=True,
        y_title="of delivered", aria_label="Open and click rates per day", **common)
    return {"sent": Markup(sent), "bounces": Markup(bounces), "engagement": Markup(engagement)}


def _short_url(url: str, limit: int = 44) -> str:
    text = re.sub(r"^https?://", "", str(url))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link_chart(data: dict) -> Markup:
    total = data["total"] or 0
    bars = [Bar(_short_url(r["url"]), r["clicks"] or 0, PALETTE["clicks"],
                tooltip=f"{r['url']}: {r['clicks']:,} clicks, {r['unique_clicks']:,} unique",
                value_text=f"{r['clicks']:,} · {r['unique_clicks']:,} unique · "
                           f"{(r['clicks'] or 0) / total * 100 if total else 0:.1f}%")
            for r in data["rows"]]
    return Markup(hbar_chart(bars, title=f"Clicks by tracked link ({total:,})", width=1000,
                             max_label_chars=44, aria_label="Clicks by tracked link"))


def client_chart(data: dict) -> Markup:
    human = data["human"] or 0
    colours = DEVICE_COLOURS
    bars = [Bar(f"{r['client']} ({r['device']})", r["opens"] or 0, colours.get(str(r["device"]), PALETTE["other"]),
                value_text=f"{r['opens']:,} · {(r['opens'] or 0) / human * 100 if human else 0:.1f}%")
            for r in data["rows"]]
    return Markup(hbar_chart(bars, title=f"People's opens by email client ({human:,}; machine opens apart)",
                             width=1000, aria_label="Opens by email client and device"))


def bounce_domain_chart(data: dict) -> Markup:
    total = data["total"] or 0
    bars = []
    for r in data["rows"]:
        ftype = str(r["ftype"]).lower() if r["ftype"] is not None else ""
        bars.append(Bar(f"{r['domain']}: {r['reason']}" + (f" ({ftype})" if ftype else ""), r["n"] or 0,
                        PALETTE.get(ftype, PALETTE["other"]),
                        value_text=f"{r['n']:,} · {(r['n'] or 0) / total * 100 if total else 0:.1f}%"))
    return Markup(hbar_chart(bars, title=f"Failed messages by domain and reason ({total:,})", width=1000,
                             max_label_chars=48, aria_label="Failed messages by recipient domain and reason"))
