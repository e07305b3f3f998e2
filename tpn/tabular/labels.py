"""Exports in a language: a file's headers stay the columns' ids (a file reads back the same
in any language, and scripts find their columns), and an export in another language than
English adds a ``labels`` sheet (``labels.csv`` in a folder) naming each column in it.

>>> sheets = {"pairs": (["mentee_id", "why"], [])}
>>> with_labels(sheets, "fr")["labels"]
(['sheet', 'column', 'label'], [['pairs', 'mentee_id', 'Mentoré (identifiant)'], ['pairs', 'why', 'Pourquoi']])
>>> list(with_labels(sheets, "en"))
['pairs']
"""

from __future__ import annotations

from ..i18n import DEFAULT, N_, _, say

LABEL_COLUMNS = ["sheet", "column", "label"]

# Every column of tpn's exports, in words.
COLUMN_LABELS = {
    # pairs.csv and unmatched.csv
    "mentee_id": N_("Mentee (id)"), "mentee_name": N_("Mentee"), "mentor_id": N_("Mentor (id)"),
    "mentor_name": N_("Mentor"), "topic_id": N_("Topic (id)"), "priority": N_("Priority"),
    "mentee_score": N_("Mentee's score"), "mentor_score": N_("Mentor's score"),
    "mentee_percentile": N_("Mentee's percentile"),
    "mentor_percentile": N_("Mentor's percentile"), "gain": N_("Gain (percentile points)"),
    "gain_estimated": N_("Gain estimated (mentee without a score)"),
    "distance_km": N_("Distance (km)"), "size_ratio": N_("Size ratio"), "cost": N_("Cost"),
    "cost_gain": N_("Cost: gain"), "cost_distance": N_("Cost: distance"),
    "cost_size": N_("Cost: size"), "cost_continuity": N_("Cost: continuity"),
    "cost_preference": N_("Cost: preference"), "locked": N_("Locked"),
    "continued": N_("Continued from the earlier run"),
    "preferred": N_("Rank among the mentee's choices"),
    "alternatives": N_("Next best mentors (reason)"), "why": N_("Why"),
    "institution_id": N_("Institution (id)"), "institution_name": N_("Institution"),
    "reason": N_("Reason"), "eligible_mentors": N_("Eligible mentors"),
    "detail": N_("Why not"), "fix": N_("What would fix it"),
    # the records workbook
    "partnership": N_("Partnership (id)"), "topics": N_("Topics (ids)"), "step": N_("Step"),
    "status": N_("Status"), "started": N_("Started on"), "ended": N_("Ended on"),
    "record": N_("Record (id)"), "written_by": N_("Written by"), "what": N_("What"),
    "owner": N_("Owner"), "due": N_("Due"), "done": N_("Done on"), "event": N_("Event (id)"),
    "held_on": N_("Date"), "kind": N_("Kind"), "title": N_("Title"), "place": N_("Place"),
    "organiser": N_("Organiser"), "agenda": N_("Agenda"), "outputs": N_("Outputs"),
    "institutions": N_("Institutions"), "partnerships": N_("Partnerships"),
    # the data-quality report
    "period": N_("Period"), "values": N_("Values"), "missing": N_("Missing"),
    "out_of_range": N_("Out of range"), "outliers": N_("Outliers"), "jumps": N_("Jumps"),
    "accepted": N_("Accepted"), "region": N_("Region"), "topic_name": N_("Topic"),
    "value": N_("Value"), "check": N_("Check"), "statistic": N_("Statistic"),
    "peer_median": N_("Peers' median"), "peer_lowest": N_("Peers' lowest"),
    "peer_highest": N_("Peers' highest"), "accepted_by": N_("Accepted by"),
    "accepted_at": N_("Accepted on"),
    # the invitations' mail-merge list
    "name": N_("Name"), "email": N_("Email"), "phone": N_("Phone"), "contact": N_("Contact"),
    "link": N_("Link"), "expires": N_("Works until"),
}


def with_labels(sheets: dict, language: str | None, more: dict | None = None) -> dict:
    """``sheets`` ({name: (columns, rows)}), with a ``labels`` sheet in ``language`` when it
    is not English. ``more``: labels of columns of one sheet, {(sheet, column): text}."""
    if not language or language == DEFAULT:
        return sheets
    more = more or {}

    def label(sheet: str, column: str) -> str:
        text = more.get((sheet, column))
        if text is None:
            text = _(COLUMN_LABELS[column]) if column in COLUMN_LABELS else column
        return say(text, language)

    rows = [[sheet, column, label(sheet, column)]
            for sheet, (columns, _rows) in sheets.items() for column in columns]
    return {**sheets, "labels": (LABEL_COLUMNS, rows)}
