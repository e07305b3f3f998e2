"""Files made to exhaust memory are refused in a moment, by the CLI and by the web app,
with one clear problem; ordinary files, large ones included, still read."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tpn.errors import InputError
from tpn.samples import build_rwanda
from tpn.tabular import read_network, write_network
from tpn.tabular.limits import ReadLimits

from helpers import REPO

# A child process reading a bomb must stay under this (the interpreter with pandas, OR-Tools
# and openpyxl loaded takes about half of it).
MEMORY_MB = 300


def rewrite(book: Path, out: Path, part: str, content=None, stream=None) -> Path:
    """A copy of a workbook with one part's XML replaced (``content``) or written in pieces
    (``stream``, an iterable of bytes)."""
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED,
                                                      compresslevel=9) as dst:
        for info in src.infolist():
            if info.filename != part:
                dst.writestr(info, src.read(info.filename))
            elif content is not None:
                dst.writestr(part, content)
            else:
                with dst.open(part, "w", force_zip64=True) as f:
                    for piece in stream:
                        f.write(piece)
    return out


def sheet_part(book: Path, title: str) -> str:
    from openpyxl import load_workbook

    wb = load_workbook(book, read_only=True)
    index = wb.sheetnames.index(title) + 1
    wb.close()
    return f"xl/worksheets/sheet{index}.xml"


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    return write_network(build_rwanda(), tmp_path_factory.mktemp("book") / "net.xlsx")


@pytest.fixture(scope="module")
def bombs(book, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    part = sheet_part(book, "scores")
    with zipfile.ZipFile(book) as zf:
        xml = zf.read(part).decode()
    far_cell = '<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>'
    declared = re.sub(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:XFD1048576"/>', xml)
    undeclared = re.sub(r'<dimension ref="[^"]*"\s*/>', "", xml)
    head, tail = xml.split("<sheetData>")
    row = (b'<row><c t="inlineStr"><is><t>kibuye_hospital</t></is></c>'
           b'<c t="n"><v>1</v></c></row>')
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{k} "{("&lol" + str(k - 1) + ";") * 10 if k > 1 else "&lol;" * 10}">'
                        for k in range(1, 10))
              + ']>' + head.split("?>", 1)[-1] + '<sheetData><row r="1"><c r="A1" t="inlineStr">'
              '<is><t>&lol9;</t></is></c></row></sheetData>' + tail.split("</sheetData>", 1)[1])
    return {
        # one cell at the last row and column Excel has, the sheet's dimension saying so
        "dimension": rewrite(book, folder / "dimension.xlsx", part,
                             declared.replace("</sheetData>", far_cell)),
        # the same, with no dimension to warn: caught while the rows stream in
        "far_cell": rewrite(book, folder / "far_cell.xlsx", part,
                            undeclared.replace("</sheetData>", far_cell)),
        # 560 MB of rows packed into about 2 MB
        "zip": rewrite(book, folder / "zip.xlsx", part, stream=[
            (head + "<sheetData>").encode(), *([row * 100_000] * 80),
            ("</sheetData>" + tail.split("</sheetData>", 1)[1]).encode()]),
        # a billion laughs
        "entities": rewrite(book, folder / "entities.xlsx", part, laughs),
    }


EXPECTED = {
    "dimension": "reaches column XFD (16,384 columns); tpn reads at most 2,000",
    "far_cell": "a cell in column XFD (16,384 columns)",
    "zip": "times its size; tpn refuses more than 200 (TPN_MAX_RATIO)",
    "entities": "declares XML entities",
}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_bomb_is_refused_by_the_cli_at_once_in_little_memory(bombs, kind, tmp_path):
    assert bombs[kind].stat().st_size < 5_000_000
    # The peak of this program's own memory (VmHWM): getrusage's maxrss would also count
    # the test process it was started from, which Linux carries across exec.
    probe = ("import re, sys\n"
             "from tpn.cli import main\n"
             "code = main(['match', sys.argv[1], '--out', sys.argv[2]])\n"
             "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
             "print(code, int(peak.group(1)) // 1024)\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, str(bombs[kind]), str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    seconds = time.perf_counter() - start
    code, peak_mb = map(int, done.stdout.split())
    assert code == 2 and "Traceback" not in done.stderr
    assert EXPECTED[kind] in done.stderr and bombs[kind].name in done.stderr
    assert peak_mb < MEMORY_MB, peak_mb
    assert seconds < 20           # the interpreter's start included; the refusal itself:
    reading = time.perf_counter()
    with pytest.raises(InputError):
        read_network(bombs[kind])
    assert time.perf_counter() - reading < 2
    assert not (tmp_path / "out").exists()


def test_a_bomb_is_refused_by_the_web_upload(bombs, tmp_path):
    from web import create_app
    from tpn import services

    sys.path.insert(0, str(Path(__file__).parent / "web"))
    from webclient import PASSWORDS, login, post

    app = create_app({"INSTANCE": tmp_path / "instance"})
    db = app.extensions["tpn_db"]
    services.add_user(db, "facilitator", PASSWORDS["facilitator"], "facilitator")
    client = login(app.test_client(), "facilitator")
    post(client, "/networks", {"name": "fresh"})
    for kind in EXPECTED:
        start = time.perf_counter()
        with open(bombs[kind], "rb") as f:
            response = post(client, "/networks/fresh/import", {"file": (f, f"{kind}.xlsx")},
                            content_type="multipart/form-data")
        if kind == "zip":       # refused from its directory, before it is kept
            assert response.status_code == 400
        else:                   # read for the preview: its problems, as any workbook's
            assert response.status_code == 302
            response = client.get(response.location)
            assert response.status_code == 422
        assert time.perf_counter() - start < 2
        assert EXPECTED[kind] in response.text
        assert client.get("/").status_code == 200     # and the app carries on


def test_the_limits_are_settings(book, tmp_path, monkeypatch):
    monkeypatch.setenv("TPN_MAX_ROWS", "50")
    with pytest.raises(InputError, match=r"sheet scores, row 397: the sheet says it has 397 "
                                         r"rows; tpn reads at most 50 \(TPN_MAX_ROWS\)"):
        read_network(book)
    monkeypatch.setenv("TPN_MAX_ROWS", "lots")
    with pytest.raises(InputError, match="TPN_MAX_ROWS.*'lots' is not a positive whole number"):
        read_network(book)
    monkeypatch.delenv("TPN_MAX_ROWS")
    monkeypatch.setenv("TPN_MAX_FILE_MB", "0.001")
    with pytest.raises(InputError, match=r"tpn reads files up to 0.0 MB \(TPN_MAX_FILE_MB\)"):
        read_network(book)
    monkeypatch.setenv("TPN_MAX_FILE_MB", "200")
    monkeypatch.setenv("TPN_MAX_UNPACKED_MB", "0.01")
    with pytest.raises(InputError, match=r"would unpack to .* MB \(the largest part"):
        read_network(book)
    monkeypatch.delenv("TPN_MAX_UNPACKED_MB")
    csv_folder = tmp_path / "csv"
    write_network(build_rwanda(), csv_folder)
    monkeypatch.setenv("TPN_MAX_CELLS", "100")
    with pytest.raises(InputError, match=r"more than 100 cells"):
        read_network(csv_folder)
    monkeypatch.delenv("TPN_MAX_CELLS")
    assert len(read_network(csv_folder).institutions) == 40


def test_a_large_ordinary_workbook_still_reads(tmp_path):
    """An ordinary workbook reads within every default limit, and one of 50 MB packed the
    same way would too (its parts compress about ten times, far from a bomb's hundreds)."""
    from tpn.samples import generate

    book = write_network(generate(8_000, seed=1, topics=10), tmp_path / "national.xlsx")
    with zipfile.ZipFile(book) as zf:
        parts = zf.infolist()
    unpacked = sum(i.file_size for i in parts)
    limits = ReadLimits()
    assert unpacked > 10e6
    assert max(i.file_size / i.compress_size for i in parts if i.file_size > 1e6) \
        < limits.max_ratio / 5
    assert unpacked / book.stat().st_size * 50 < limits.max_unpacked_mb
    assert len(read_network(book).institutions) == 8_000
