"""The HTML report in a real headless browser (Debian's chromium; `make test` installs it), from
a warehouse a real demo build made:

- it loads with no console errors and its charts render (SVG in the DOM, non-blank screenshots
  at a desktop and a phone width);
- layout facts measured in the page itself, at 1400 and 390 CSS pixels: nothing wider than the
  window, no main table that scrolls sideways, every section present;
- a chart point shows its value on keyboard focus, not only on hover;
- printed to PDF it takes at most ten A4 pages, and it holds no local path of the warehouse.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from sendlens.reports.html_report import SECTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
MAX_PRINTED_PAGES = 10

# A page that holds the report in a frame of the given width (headless Chromium's window is at
# least 500 px wide; a frame is not) and writes what it measured into the DOM: the widest
# element, the tables that scroll sideways, the sections, and whether a focused chart point
# shows its value.
HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="report.html" style="width:%(width)dpx;height:900px;border:0"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {
  var w = this.contentWindow, d = this.contentDocument, over = [], scrolls = [];
  d.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width && r.right > w.innerWidth + 1 && !el.closest('.tablewrap *'))
      over.push(el.tagName + '.' + el.className + ':' + Math.round(r.right));
  });
  d.querySelectorAll('.tablewrap').forEach(function (el) {
    if (el.offsetParent && el.scrollWidth > el.clientWidth + 1)
      scrolls.push((el.closest('section') || {}).id + ':' + el.scrollWidth + '>' + el.clientWidth);
  });
  var pt = d.querySelector('#hourly svg .pt[tabindex]'), before = null, after = null;
  if (pt) {
    before = w.getComputedStyle(pt.querySelector('.ptval')).display;
    pt.focus();
    after = w.getComputedStyle(pt.querySelector('.ptval')).display;
  }
  var tables = Array.from(d.querySelectorAll('main table'));
  var m = document.createElement('pre'); m.id = 'facts';
  m.textContent = JSON.stringify({
    width: w.innerWidth, page: d.documentElement.scrollWidth, over: over.slice(0, 20), scrolls: scrolls,
    sections: Array.from(d.querySelectorAll('main section')).map(function (s) { return s.id; }),
    tables: tables.length, captioned: tables.filter(function (t) { return t.caption; }).length,
    focus: [before, after]});
  document.body.appendChild(m);
});
</script></body></html>"""


def _png_size_and_colours(path: Path) -> tuple[int, int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in [m.start() - 4 for m in re.finditer(b"IDAT", data)])
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[: 200_000]))


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def report(demo_home) -> tuple[Path, Path]:
    from sendlens.config import load_settings

    settings = load_settings(demo_home, environ={})
    [page] = list(settings.exports.glob("*/report.html"))
    return page, demo_home.parent


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it as root)")
def test_report_renders_in_headless_chromium(report):
    page, tmp = report
    profile = tmp / "chrome-profile"
    dom = _chromium(profile, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<svg" in dom.stdout and ("<polyline" in dom.stdout or "<path" in dom.stdout)
    assert "Reconciliation" in dom.stdout or "reconciliation" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    for width, height in ((1400, 2400), (390, 2400)):
        shot = tmp / f"report-{width}.png"
        r = _chromium(profile, f"--screenshot={shot}", "--hide-scrollbars", f"--window-size={max(width, 500)},{height}",
                      page.as_uri())
        assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
        got_width, got_height, distinct_bytes = _png_size_and_colours(shot)
        assert (got_width, got_height) == (max(width, 500), height)
        assert distinct_bytes > 20  # not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it as root)")
@pytest.mark.parametrize("width", [1400, 390])
def test_layout_at_desktop_and_phone_width(report, width):
    page, tmp = report
    harness = page.with_name(f"harness-{width}.html")
    harness.write_text(HARNESS % {"width": width})
    dom = _chromium(tmp / f"chrome-profile-{width}", "--allow-file-access-from-files", "--window-size=1500,900",
                    "--virtual-time-budget=10000", "--dump-dom", harness.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    facts = json.loads(re.search(r'<pre id="facts">(.*?)</pre>', dom.stdout, re.S).group(1)
                       .replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&").replace("&quot;", '"'))
    assert facts["width"] == width
    assert facts["page"] <= width, facts  # no sideways scrolling of the page
    assert facts["over"] == [], facts["over"]
    assert facts["scrolls"] == [], facts["scrolls"]  # nor of a table
    assert facts["sections"] == [sid for sid, _ in SECTIONS]
    assert facts["tables"] and facts["captioned"] == facts["tables"]
    assert facts["focus"][0] == "none" and facts["focus"][1] not in (None, "none")  # focus shows the value


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it as root)")
def test_report_prints_in_few_pages_and_holds_no_local_path(report):
    page, tmp = report
    pdf = tmp / "report.pdf"
    r = _chromium(tmp / "chrome-profile-print", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert r.returncode == 0 and pdf.exists(), r.stderr[-2000:]
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert 1 <= pages <= MAX_PRINTED_PAGES, pages
    html = page.read_text()
    assert str(tmp) not in html and "sendlens.duckdb" not in html
    assert "/demo-home-" not in html  # nor the path of the home the demo was built in
    # every instant in the text says its zone
    stamps = list(re.finditer(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?", html))
    assert stamps
    bare = [m.group(0) for m in stamps if not html[m.end():].startswith((" UTC", "Z", "+00:00"))]
    assert bare == [], bare
