"""The HTML report in a real headless browser (Debian's chromium; `make test` installs it):
it loads with no console errors and its charts render (SVG in the DOM, a non-blank screenshot)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from sendlens import pipeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def _png_size_and_colours(path: Path) -> tuple[int, int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in [m.start() - 4 for m in re.finditer(b"IDAT", data)])
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[: 200_000]))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it as root)")
def test_report_renders_in_headless_chromium(tmp_path):
    from sendlens.config import load_settings

    settings = load_settings(tmp_path / "home")
    pipeline.demo(settings, messages=3000, seed=7)
    [report] = list(settings.exports.glob("*/report.html"))
    profile = tmp_path / "chrome-profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<svg" in dom.stdout and ("<polyline" in dom.stdout or "<path" in dom.stdout)
    assert "Reconciliation" in dom.stdout or "reconciliation" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    shot = tmp_path / "report.png"
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=1400,2400", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    width, height, distinct_bytes = _png_size_and_colours(shot)
    assert (width, height) == (1400, 2400)
    assert distinct_bytes > 20  # not a blank page
