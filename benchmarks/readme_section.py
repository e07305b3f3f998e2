"""Where the benchmark scripts put their tables: between two markers of README.md."""

from __future__ import annotations

from pathlib import Path


def write_section(readme: Path, start: str, end: str, text: str, heading: str) -> None:
    """Replace what lies between ``start`` and ``end`` with ``text``, keeping the rest of
    the page; a page without the markers gets them at its end, under ``heading``."""
    block = f"{start}\n{text}\n{end}"
    body = readme.read_text() if readme.exists() else ""
    if start in body and end in body:
        head, rest = body.split(start, 1)
        body = head + block + rest.split(end, 1)[1]
    else:
        body = body.rstrip("\n") + f"\n\n{heading}\n\n" + block + "\n"
    readme.write_text(body)
