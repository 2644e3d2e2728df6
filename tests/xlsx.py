"""Reading an XLSX file back as its reader sees it: sheets by name, cells with their text and
number format, header notes, tables. Only the standard library (zipfile and ElementTree), so a
test checks the file itself, not another library's view of it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
R_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


class Xlsx:
    """The sheets, cells, formats and notes of an XLSX file, read from its XML."""

    def __init__(self, path: Path) -> None:
        self.z = zipfile.ZipFile(path)
        assert self.z.testzip() is None
        wb = ET.fromstring(self.z.read("xl/workbook.xml"))
        rels = ET.fromstring(self.z.read("xl/_rels/workbook.xml.rels"))
        target = {r.get("Id"): r.get("Target") for r in rels}
        self.sheets = {s.get("name"): "xl/" + target[s.get(R_NS)].lstrip("/").removeprefix("xl/")
                       for s in wb.find("m:sheets", NS)}
        self.strings = []
        if "xl/sharedStrings.xml" in self.z.namelist():
            sst = ET.fromstring(self.z.read("xl/sharedStrings.xml"))
            self.strings = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")) for si in sst]
        styles = ET.fromstring(self.z.read("xl/styles.xml"))
        codes = {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iter(f"{{{NS['m']}}}numFmt")}
        codes.update({0: "General", 10: "0.00%", 9: "0%", 3: "#,##0", 14: "yyyy-mm-dd"})
        xfs = styles.find("m:cellXfs", NS)
        self.formats = [codes.get(int(x.get("numFmtId", 0)), f"builtin {x.get('numFmtId')}") for x in xfs]

    def xml(self, sheet: str) -> str:
        return self.z.read(self.sheets[sheet]).decode()

    def _related(self, sheet: str, kind: str) -> list[str]:
        path = self.sheets[sheet]
        rels = path.replace("worksheets/", "worksheets/_rels/") + ".rels"
        if rels not in self.z.namelist():
            return []
        out = []
        for r in ET.fromstring(self.z.read(rels)):
            if r.get("Type").endswith("/" + kind):
                out.append("xl/" + r.get("Target").replace("../", ""))
        return out

    def cells(self, sheet: str) -> dict[str, tuple[str | None, str]]:
        """cell reference -> (value as text, its number format)."""
        out = {}
        for c in ET.fromstring(self.z.read(self.sheets[sheet])).iter(f"{{{NS['m']}}}c"):
            v = c.find("m:v", NS)
            text = None if v is None else v.text
            if c.get("t") == "s" and text is not None:
                text = self.strings[int(text)]
            elif c.get("t") == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
            out[c.get("r")] = (text, self.formats[int(c.get("s", 0))])
        return out

    def notes(self, sheet: str) -> dict[str, str]:
        """cell reference -> its note's text."""
        out = {}
        for path in self._related(sheet, "comments"):
            for c in ET.fromstring(self.z.read(path)).iter(f"{{{NS['m']}}}comment"):
                out[c.get("ref")] = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
        return out

    def tables(self, sheet: str) -> list[str]:
        return self._related(sheet, "table")

    def columns(self, sheet: str) -> dict[str, str]:
        """mart column name (from the header's note 'table.column') -> column letter."""
        out = {}
        for ref, note in self.notes(sheet).items():
            m = re.match(r"([A-Z]+)1$", ref)
            if m:
                out[note.split("\n", 1)[0].split(".", 1)[-1]] = m.group(1)
        return out

    def column(self, sheet: str, letter: str) -> list[tuple[str | None, str]]:
        cells = self.cells(sheet)
        rows = sorted(int(r[len(letter):]) for r in cells if re.fullmatch(letter + r"\d+", r))
        return [cells[f"{letter}{n}"] for n in rows if n > 1]

    def rows(self, sheet: str) -> list[dict[str, str | None]]:
        """The sheet's rows in order, each as {column letter: text}."""
        by_row: dict[int, dict[str, str | None]] = {}
        for ref, (text, _) in self.cells(sheet).items():
            m = re.fullmatch(r"([A-Z]+)(\d+)", ref)
            by_row.setdefault(int(m.group(2)), {})[m.group(1)] = text
        return [by_row[n] for n in sorted(by_row)]

    def records(self, sheet: str) -> list[dict[str, str | None]]:
        """The data rows, each as {mart column name: text} (columns named by their header's note)."""
        letters = self.columns(sheet)
        return [{name: r.get(col) for name, col in letters.items()} for r in self.rows(sheet)[1:]]
