"""Long lists in pages, and the name search beside them: a national network has thousands
of institutions and pairs, and a page of all of them is megabytes no room can read."""

from __future__ import annotations

from flask import request

PAGE_SIZES = (25, 50, 100, 250, 1000)
SHOWN = 100         # rows of a capped list shown before "all of them" is asked for


def page_of(total: int, default: int = 100) -> dict:
    """The page the query asks for (``per``, one of PAGE_SIZES; ``page``, from 1): its
    size, number, count of pages, and the rows it starts and ends at.

    >>> from flask import Flask
    >>> with Flask(__name__).test_request_context("/?per=25&page=9"):
    ...     p = page_of(60)
    >>> p["number"], p["pages"], p["start"], p["end"]
    (3, 3, 50, 60)
    """
    args = request.args
    per = args.get("per", "")
    size = int(per) if per.isdecimal() and int(per) in PAGE_SIZES else default
    pages = max(1, -(-total // size))
    number = int(args["page"]) if args.get("page", "").isdecimal() else 1
    number = min(max(number, 1), pages)
    start = (number - 1) * size
    return {"size": size, "number": number, "pages": pages, "start": start,
            "end": min(start + size, total), "total": total, "sizes": PAGE_SIZES}


def matches_words(*texts: str) -> bool:
    """Whether every word of the query's ``q`` is in one of the texts (case ignored)."""
    words = request.args.get("q", "").casefold().split()
    haystack = " ".join(texts).casefold()
    return all(w in haystack for w in words)
