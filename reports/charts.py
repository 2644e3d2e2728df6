"""Inline SVG charts for the HTML report: a line chart and a horizontal bar chart.

No JavaScript and no external resources: every chart is a self-contained ``<svg>`` string.
Tooltips use SVG ``<title>`` elements (shown by every browser on hover). All text is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable, Sequence

FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "'Noto Sans', 'Liberation Sans', sans-serif")
AXIS_COLOR = "#94a3b8"
GRID_COLOR = "#e2e8f0"
TEXT_COLOR = "#334155"
MUTED_COLOR = "#64748b"

# One palette for the whole report so that a colour means the same thing everywhere: the
# Okabe-Ito colours, told apart under the common colour-vision deficiencies. Delivered and
# bounces never share a chart's scale (bounces have their own), and where two lines share a
# chart they differ by dash and marker too, never by colour alone.
PALETTE = {
    "delivered": "#009E73",   # bluish green
    "bounces": "#D55E00",     # vermillion
    "opens": "#0072B2",       # blue
    "clicks": "#CC79A7",      # reddish purple
    "hard": "#D55E00",
    "soft": "#56B4E9",        # sky blue: never told from hard by hue alone on a red-green axis
    "ignored": "#BBBBBB",
    "other": "#999999",
    "valid": "#009E73",
    "erroneous": "#E69F00",
    "quarantine": "#D55E00",
    "denylisted": "#1e293b",
    "neutral": "#0072B2",
    "machine": "#999999",
}
# the markers of a chart's lines, in order: a line is known by its marker as well as its colour
MARKERS = ("circle", "square", "diamond", "triangle")
MAX_FOCUSABLE = 48  # a line's points reachable by Tab (every k-th of a dense line); all show on hover


@dataclass
class Series:
    """One line. ``points`` are (x, y) pairs; a ``None`` y breaks the line."""

    name: str
    points: Sequence[tuple[float, float | None]]
    color: str
    dashed: bool = False
    # Optional tooltip prefix per point (e.g. the timestamp); same length as points.
    point_labels: Sequence[str] | None = None
    marker: str | None = None  # one of MARKERS (default: by the series' place in the chart)


@dataclass
class Bar:
    label: str
    value: float
    color: str = PALETTE["neutral"]
    tooltip: str | None = None
    # Text printed after the bar; defaults to the formatted value.
    value_text: str | None = None


def _f(v: float) -> str:
    """Compact coordinate formatting."""
    return f"{v:.1f}".rstrip("0").rstrip(".") if not float(v).is_integer() else str(int(v))


def fmt_pct_axis(v: float) -> str:
    return f"{v * 100:.0f}%"


def fmt_pct_axis_fine(v: float) -> str:
    return f"{v * 100:.1f}%".replace(".0%", "%")


def fmt_count_axis(v: float) -> str:
    a = abs(v)
    if a >= 1_000_000:
        return f"{v / 1_000_000:.1f}M".replace(".0M", "M")
    if a >= 10_000:
        return f"{v / 1_000:.0f}k"
    if a >= 1_000:
        return f"{v / 1_000:.1f}k".replace(".0k", "k")
    return f"{v:g}"


def nice_ticks(lo: float, hi: float, target: int = 5, integer: bool = False) -> list[float]:
    """Ticks on a 1-2-2.5-5 x 10^k grid covering [lo, hi] (whole steps if ``integer``)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw and not (integer and not float(m * mag).is_integer()):
            step = m * mag
            break
    if integer:
        step = max(1, round(step))
    start = math.floor(lo / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < hi - 1e-12:  # the last tick is at or above hi
        ticks.append(round(start + len(ticks) * step, 10))
    return ticks


def line_chart(series: Sequence[Series], *, title: str | None = None,
               y_percent: bool = True, y_max: float | None = None,
               x_ticks: Sequence[tuple[float, str]] | None = None,
               x_title: str | None = None, y_title: str | None = None,
               value_format: Callable[[float], str] | None = None,
               width: int = 640, height: int = 300, max_markers: int = 240,
               aria_label: str | None = None, end_labels: bool = False,
               y_auto: bool = False) -> str:
    """An SVG line chart with axes, gridlines, legend, axis labels and per-point tooltips.

    ``y_percent`` fixes the y axis to 0-100% (values are fractions), or with ``y_auto`` to 0 up
    to a nice percentage above the data (a 2-5% bounce rate fills the plot instead of its
    bottom pixels); otherwise the axis runs from 0 to a nice maximum above the data.
    ``x_ticks`` gives (x, label) pairs; by default nice numeric ticks are used. Every point is
    a focusable mark (keyboard focus, a tap) that shows its value, as hover does.
    """
    all_pts = [(x, y) for s in series for x, y in s.points]
    xs = [x for x, _ in all_pts]
    ys = [y for _, y in all_pts if y is not None]
    if value_format is None:
        value_format = (lambda v: f"{v * 100:.1f}%") if y_percent else (lambda v: f"{v:,.0f}")

    legend_rows = _legend_layout(series, width - 20)
    top = 14 + (22 if title else 0) + 20 * len(legend_rows)
    left, right = 58, (52 if end_labels else 18)
    bottom = 36 + (16 if x_title else 0)
    pw, ph = width - left - right, height - top - bottom

    if y_percent and y_auto and y_max is None:
        y_lo = 0.0
        top_y = max(ys) if ys else 0.0
        y_ticks = nice_ticks(0, min(max(top_y * 1.1, 0.01), 1.0), 5)
        y_hi = y_ticks[-1]
        y_label = fmt_pct_axis_fine if y_hi < 0.05 else fmt_pct_axis
    elif y_percent:
        y_lo, y_hi = 0.0, 1.0 if y_max is None else y_max
        y_ticks = [i / 5 * y_hi for i in range(6)]
        y_label = fmt_pct_axis
    else:
        y_lo = 0.0
        y_hi = y_max if y_max is not None else (max(ys) if ys else 1.0)
        y_ticks = nice_ticks(0, y_hi if y_hi > 0 else 1, 5, integer=True)
        y_hi = y_ticks[-1]
        y_label = fmt_count_axis

    x_lo = min(xs) if xs else 0.0
    x_hi = max(xs) if xs else 1.0
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    if x_ticks is None:
        x_ticks = [(t, f"{t:g}") for t in nice_ticks(x_lo, x_hi, 6) if x_lo <= t <= x_hi]

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def sy(y: float) -> float:
        y = min(max(y, y_lo), y_hi)
        return top + ph - (y - y_lo) / (y_hi - y_lo) * ph

    label = aria_label or title or "line chart"
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" '
           f'width="100%" role="img" aria-label="{escape(label)}" '
           f'style="max-width:{width}px;font-family:{escape(FONT)}">',
           f"<title>{escape(label)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        out.append(f'<text x="{left}" y="20" font-size="14" font-weight="600" '
                   f'fill="{TEXT_COLOR}">{escape(title)}</text>')
    # legend
    ly = 14 + (22 if title else 0) + 4
    markers = {id(s): s.marker or MARKERS[i % len(MARKERS)] for i, s in enumerate(series)}
    for row in legend_rows:
        for s, lx in row:
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            out.append(f'<g class="legend-item"><path d="M{_f(lx)} {_f(ly)} h22" stroke="{s.color}" '
                       f'stroke-width="2.5" fill="none"{dash}/>'
                       f'{_marker(markers[id(s)], lx + 11, ly, 3.5, s.color, 1)}'
                       f'<text x="{_f(lx + 28)}" y="{_f(ly + 4)}" font-size="12" fill="{TEXT_COLOR}">'
                       f"{escape(s.name)}</text></g>")
        ly += 20
    # grid + y axis labels
    for t in y_ticks:
        y = sy(t)
        out.append(f'<path d="M{left} {_f(y)} H{left + pw}" stroke="{GRID_COLOR}" stroke-width="1"/>')
        out.append(f'<text x="{left - 8}" y="{_f(y + 4)}" font-size="11" text-anchor="end" '
                   f'fill="{MUTED_COLOR}">{escape(y_label(t))}</text>')
    # x axis ticks
    for x, lab in x_ticks:
        px = sx(x)
        out.append(f'<path d="M{_f(px)} {top} V{top + ph}" stroke="{GRID_COLOR}" '
                   f'stroke-width="1" stroke-dasharray="2 3"/>')
        out.append(f'<path d="M{_f(px)} {top + ph} v5" stroke="{AXIS_COLOR}" stroke-width="1"/>')
        out.append(f'<text x="{_f(px)}" y="{top + ph + 18}" font-size="11" text-anchor="middle" '
                   f'fill="{MUTED_COLOR}">{escape(lab)}</text>')
    # axes
    out.append(f'<path class="axis" d="M{left} {top} V{top + ph} H{left + pw}" stroke="{AXIS_COLOR}" '
               f'stroke-width="1.2" fill="none"/>')
    if x_title:
        out.append(f'<text x="{_f(left + pw / 2)}" y="{height - 8}" font-size="11" '
                   f'text-anchor="middle" fill="{MUTED_COLOR}">{escape(x_title)}</text>')
    if y_title:
        cy = top + ph / 2
        out.append(f'<text x="14" y="{_f(cy)}" font-size="11" text-anchor="middle" '
                   f'fill="{MUTED_COLOR}" transform="rotate(-90 14 {_f(cy)})">{escape(y_title)}</text>')
    if not ys:
        out.append(f'<text x="{_f(left + pw / 2)}" y="{_f(top + ph / 2)}" font-size="13" '
                   f'text-anchor="middle" fill="{MUTED_COLOR}">no data</text>')
    # series
    for s in series:
        dash = ' stroke-dasharray="7 4"' if s.dashed else ""
        seg: list[str] = []
        segments: list[list[str]] = []
        for x, y in s.points:
            if y is None:
                if seg:
                    segments.append(seg)
                seg = []
                continue
            seg.append(f"{_f(sx(x))},{_f(sy(y))}")
        if seg:
            segments.append(seg)
        out.append('<g class="series">')
        for pts in segments:
            if len(pts) == 1:
                continue  # a lone point is drawn by its marker below
            out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{s.color}" '
                       f'stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round"{dash}>'
                       f"<title>{escape(s.name)}</title></polyline>")
        n_pts = sum(1 for _, y in s.points if y is not None)
        if n_pts <= max_markers:
            # Sparse series get visible markers, dense ones faint ones; each is a focusable mark
            # whose value shows on hover, keyboard focus or a tap (the page's CSS), and whose
            # <title> is the tooltip.
            visible = n_pts <= 24
            every = max(1, math.ceil(n_pts / MAX_FOCUSABLE))  # keyboard stops per line, at most
            k = 0
            for i, (x, y) in enumerate(s.points):
                if y is None:
                    continue
                lab = s.point_labels[i] if s.point_labels and i < len(s.points) else f"{x:g}"
                tip = f"{s.name} · {lab}: {value_format(y)}"
                px, py = sx(x), sy(y)
                tx = min(max(px, left + 40), left + pw - 40)
                ty = py - 10 if py - 10 > top + 10 else py + 18
                focus = ' tabindex="0"' if k % every == 0 else ""
                k += 1
                mark = (_marker(markers[id(s)], px, py, 3.2, s.color, 0.95) if visible
                        else f'<circle class="mk" cx="{_f(px)}" cy="{_f(py)}" r="4" fill="{s.color}" fill-opacity="0"/>')
                out.append(f'<g class="pt"{focus} role="img" aria-label="{escape(tip)}">'
                           f"<title>{escape(tip)}</title>{mark}"
                           f'<text class="ptval" x="{_f(tx)}" y="{_f(ty)}" font-size="11" font-weight="600" '
                           f'text-anchor="middle" fill="{TEXT_COLOR}">{escape(value_format(y))}</text></g>')
        out.append("</g>")
    if end_labels:
        out.extend(_end_labels(series, sx, sy, value_format, top, top + ph))
    out.append("</svg>")
    return "".join(out)


def _marker(kind: str, x: float, y: float, r: float, color: str, opacity: float) -> str:
    """A point's mark: circle, square, diamond or triangle of radius ``r`` at (x, y)."""
    fill = f'fill="{color}" fill-opacity="{opacity:g}" stroke="{color}"'
    if kind == "square":
        return f'<rect class="mk" x="{_f(x - r)}" y="{_f(y - r)}" width="{_f(2 * r)}" height="{_f(2 * r)}" {fill}/>'
    if kind == "diamond":
        d = r * 1.3
        return f'<path class="mk" d="M{_f(x)} {_f(y - d)}L{_f(x + d)} {_f(y)}L{_f(x)} {_f(y + d)}L{_f(x - d)} {_f(y)}Z" {fill}/>'
    if kind == "triangle":
        d = r * 1.3
        return f'<path class="mk" d="M{_f(x)} {_f(y - d)}L{_f(x + d)} {_f(y + d * 0.8)}L{_f(x - d)} {_f(y + d * 0.8)}Z" {fill}/>'
    return f'<circle class="mk" cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" {fill}/>'


def _end_labels(series: Sequence[Series], sx: Callable[[float], float], sy: Callable[[float], float],
                value_format: Callable[[float], str], y_min: float, y_max: float) -> list[str]:
    """The last value of each series, right of the plot, nudged apart so labels never overlap."""
    items = []
    for s in series:
        last = next(((x, y) for x, y in reversed(list(s.points)) if y is not None), None)
        if last is not None:
            items.append([sy(last[1]) + 4, sx(last[0]), s, last[1]])
    items.sort(key=lambda it: it[0])
    gap = 12.0
    for i in range(1, len(items)):  # push down
        items[i][0] = max(items[i][0], items[i - 1][0] + gap)
    overflow = items[-1][0] - (y_max + 8) if items else 0
    if overflow > 0:  # then shift the stack up to stay inside the chart
        for it in items:
            it[0] -= overflow
        for i in range(len(items) - 2, -1, -1):
            items[i][0] = min(items[i][0], items[i + 1][0] - gap)
    out = []
    for ty, px, s, y in items:
        out.append(f'<text x="{_f(px + 6)}" y="{_f(ty)}" font-size="10.5" font-weight="600" '
                   f'fill="{s.color}"><title>{escape(s.name)}: {escape(value_format(y))} (last hour)</title>'
                   f"{escape(value_format(y))}</text>")
    return out


def _legend_layout(series: Sequence[Series], avail: float) -> list[list[tuple[Series, float]]]:
    rows: list[list[tuple[Series, float]]] = [[]]
    x = 58.0
    for s in series:
        w = 28 + 6.6 * len(s.name) + 18
        if rows[-1] and x + w > avail:
            rows.append([])
            x = 58.0
        rows[-1].append((s, x))
        x += w
    return rows if rows[0] else []


def hbar_chart(bars: Sequence[Bar], *, title: str | None = None,
               value_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
               axis_format: Callable[[float], str] = fmt_count_axis,
               max_value: float | None = None, width: int = 640, bar_height: int = 22,
               gap: int = 8, aria_label: str | None = None, max_label_chars: int = 30,
               integer_axis: bool = True) -> str:
    """An SVG horizontal bar chart: category labels on the left, value printed after the bar,
    vertical gridlines with nice ticks, a tooltip per bar."""
    labels = [b.label if len(b.label) <= max_label_chars else b.label[: max_label_chars - 1] + "…"
              for b in bars]
    label_w = round(min(240, max([6.8 * len(l) for l in labels] + [40]) + 16))
    value_w = round(max([6.8 * len(b.value_text or value_format(b.value)) for b in bars] + [30]) + 14)
    top = 12 + (24 if title else 0)
    left, right = label_w, value_w
    pw = width - left - right
    n = len(bars)
    ph = n * (bar_height + gap) + gap
    height = top + ph + 30
    vmax = max_value if max_value is not None else max([b.value for b in bars] + [0])
    ticks = nice_ticks(0, vmax if vmax > 0 else 1, 4, integer=integer_axis)
    vmax = ticks[-1]

    def sx(v: float) -> float:
        return left + max(v, 0) / vmax * pw

    label = aria_label or title or "bar chart"
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" '
           f'width="100%" role="img" aria-label="{escape(label)}" '
           f'style="max-width:{width}px;font-family:{escape(FONT)}">',
           f"<title>{escape(label)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        out.append(f'<text x="8" y="20" font-size="14" font-weight="600" fill="{TEXT_COLOR}">'
                   f"{escape(title)}</text>")
    for t in ticks:
        x = sx(t)
        out.append(f'<path d="M{_f(x)} {top} V{top + ph}" stroke="{GRID_COLOR}" stroke-width="1"/>')
        out.append(f'<text x="{_f(x)}" y="{top + ph + 16}" font-size="11" text-anchor="middle" '
                   f'fill="{MUTED_COLOR}">{escape(axis_format(t))}</text>')
    out.append(f'<path class="axis" d="M{left} {top} V{top + ph}" stroke="{AXIS_COLOR}" '
               f'stroke-width="1.2" fill="none"/>')
    for i, (b, lab) in enumerate(zip(bars, labels)):
        y = top + gap + i * (bar_height + gap)
        w = sx(b.value) - left
        vt = b.value_text or value_format(b.value)
        tip = b.tooltip or f"{b.label}: {vt}"
        out.append(f'<g class="bar"><title>{escape(tip)}</title>'
                   f'<text x="{left - 8}" y="{_f(y + bar_height / 2 + 4)}" font-size="12" '
                   f'text-anchor="end" fill="{TEXT_COLOR}">{escape(lab)}</text>'
                   f'<rect x="{left}" y="{_f(y)}" width="{_f(max(w, 1.5))}" height="{bar_height}" '
                   f'rx="3" fill="{b.color}"/>'
                   f'<text x="{_f(left + max(w, 1.5) + 6)}" y="{_f(y + bar_height / 2 + 4)}" '
                   f'font-size="12" fill="{TEXT_COLOR}">{escape(vt)}</text></g>')
    out.append("</svg>")
    return "".join(out)
