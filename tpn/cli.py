"""The ``tpn`` command: argument parsing and printing only; the work is done elsewhere.

Exit codes: 0 done (unmatched requests are a normal outcome), 2 bad input (the report
lists every problem), 3 not found, 4 the rules cannot all hold, 1 any other tpn error,
70 a bug in tpn (with the traceback to report).
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import replace
import json
import sys
from pathlib import Path
from time import perf_counter
from typing import Sequence

from . import __version__
from .cycle import EVENT_KINDS, KEEP_FROM_STEP, RECORDS
from .errors import InputError, Problem, TpnBug, TpnError
from .i18n import checked, keeping
from .matching.options import MatchOptions, parse_value

DESCRIPTION = """\
tpn pairs each health institution that needs help on a topic with a high-performing
peer of the same kind on that topic, and explains every pair and every request it
could not serve."""


def _option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_match_options(parser: argparse.ArgumentParser,
                      only: tuple[str, ...] | None = None) -> None:
    """Every MatchOption (or those of the ``only`` groups) as a flag, with its default and
    help (one registry)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    titles = {"rules": "eligibility rules", "capacity": "capacity", "cost": "cost weights",
              "solver": "solver", "data quality": "data-quality checks (see tpn check)",
              "output": "explanations"}
    for f in MatchOptions.fields():
        if only is not None and f.metadata["group"] not in only:
            continue
        group = groups.setdefault(f.metadata["group"], parser.add_argument_group(
            titles[f.metadata["group"]]))
        help_text = f"{f.metadata['help']} (default: {f.default})"
        if str(f.type).startswith("bool"):
            group.add_argument(_option_flag(f.name), dest=f.name, action="store_true",
                               default=None, help=help_text)
        else:
            metavar = "|".join(f.metadata["choices"]) if f.metadata.get("choices") else \
                str(f.type).split(" ")[0].upper()
            group.add_argument(_option_flag(f.name), dest=f.name, default=None,
                               metavar=metavar, help=help_text)


def options_from_args(args: argparse.Namespace) -> MatchOptions:
    values = {}
    for f in MatchOptions.fields():
        raw = getattr(args, f.name, None)
        if raw is not None:
            values[f.name] = parse_value(f, raw) if isinstance(raw, str) else raw
    try:
        return MatchOptions(**values)
    except ValueError as exc:
        raise InputError(Problem("", None, None, None, f"option {exc}",
                                 "see tpn match --help")) from None


# --lang of the commands that write files for people.
LANG_OPTION = dict(default="en", metavar="CODE",
                   help="the language of the file's texts, and of a labels sheet naming each "
                        "column (the headers stay the columns' ids); e.g. fr (default: en)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpn", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from .matching.native import path
    from .runtime.parallel import default_workers

    parser.add_argument("--version", action="version", version=f"tpn {__version__} ({path()})")
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                        help="processes tpn may use for the steps of a large match that can "
                             "run side by side: 1 or 2 (default: 2 on Linux, else 1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("match", help="match a network's focus requests to mentors",
                       description="Read a network workbook (file or folder), match every "
                                   "focus request optimally, write pairs.csv and "
                                   "unmatched.csv.")
    p.add_argument("data", help="network workbook (.xlsx), folder of CSV files, or DHIS2 export")
    p.add_argument("--period", help="the score period to match on (default: the latest)")
    p.add_argument("--out", default="out", help="folder for pairs.csv and unmatched.csv "
                                                "(default: out)")
    p.add_argument("--json", action="store_true", help="print a summary object on stdout")
    p.add_argument("--explain", action="store_true", help="print why for every pair and "
                                                          "every unmatched request")
    p.add_argument("--lang", default="en", metavar="CODE",
                   help="the language of --explain, e.g. fr (default: en)")
    p.add_argument("--auto-focus", type=int, metavar="N", default=None,
                   help="when the workbook has no focus sheet, use each institution's N "
                        "suggested topics (default: off)")
    p.add_argument("--lock", metavar="FILE", help="pairs that must stay: mentee_id, topic_id, "
                                                  "mentor_id (default: none)")
    p.add_argument("--exclude", metavar="FILE", help="pairs never to make: mentee_id, "
                                                     "mentor_id[, topic_id] (default: none)")
    p.add_argument("--previous", metavar="PAIRS.csv", help="the previous round's pairs, for "
                                                           "the continuity bonus (default: none)")
    add_match_options(p)
    p.set_defaults(run=cmd_match)

    p = sub.add_parser("convert", help="turn any supported input into a network workbook",
                       description="Read a workbook, CSV folder or DHIS2 analytics export "
                                   "(.json or .csv) and write a network workbook (.xlsx) or "
                                   "folder of CSV files.")
    p.add_argument("input")
    p.add_argument("--out", required=True, help="an .xlsx file or a folder")
    _dhis2_mapping_options(p)
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("check", help="the data-quality report: implausible scores, outliers, "
                                     "jumps and gaps, for the people who can fix them",
                       description="Read a network (a workbook, CSV folder, DHIS2 export or, "
                                   "with --network, a stored network), check every score, and "
                                   "report per topic and period (and per region) how many are "
                                   "missing, out of their plausible range, outliers among "
                                   "their peers or sudden jumps, then list the flagged ones. "
                                   "Exit code 0 whenever the data could be read: flags are the "
                                   "report, not a failure.")
    p.add_argument("data", nargs="?", help="network workbook (.xlsx), folder of CSV files, or "
                                           "DHIS2 export (or use --network)")
    p.add_argument("--network", default=None, help="a stored network instead of a file "
                                                    "(default: none)")
    p.add_argument("--db", metavar="URL", default=None,
                   help="database URL, with --network (default: TPN_DATABASE_URL, else "
                        "instance/tpn.sqlite)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the report: an .xlsx workbook, or a folder of CSV files "
                        "(summary, by_region, flagged) (default: print only)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_match_options(p, only=("data quality",))
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("accept", help="trust a flagged score that someone checked",
                       description="Record that a flagged score of a stored network was checked "
                                   "and is right: it counts again (as a mentor's score, in "
                                   "percentiles and in evaluation) until the value changes. "
                                   "Who and when are kept, and the history shows it.")
    p.add_argument("network")
    p.add_argument("institution")
    p.add_argument("topic")
    p.add_argument("--period", required=True, help="the period of the score")
    p.add_argument("--note", default="", help="how it was checked, for the record "
                                              "(default: none)")
    p.add_argument("--withdraw", action="store_true",
                   help="withdraw an earlier acceptance: the flag applies again (default: off)")
    p.add_argument("--db", metavar="URL", default=None,
                   help="database URL (default: TPN_DATABASE_URL, else instance/tpn.sqlite)")
    p.add_argument("--author", default="cli",
                   help="who checked the value, for the record (default: cli)")
    p.set_defaults(run=cmd_accept)

    # --- the database ---------------------------------------------------------------------
    db_opt = argparse.ArgumentParser(add_help=False)
    db_opt.add_argument("--db", metavar="URL", default=None,
                        help="database URL (default: TPN_DATABASE_URL, else "
                             "instance/tpn.sqlite)")
    db_opt.add_argument("--author", default="cli",
                        help="who makes the change, for the record (default: cli)")
    round_opt = argparse.ArgumentParser(add_help=False)
    round_opt.add_argument("--round", default="1", dest="round_name",
                           help="the round whose focus topics to use (default: 1)")

    p = sub.add_parser("pull", parents=[db_opt],
                       help="read scores from a DHIS2 server into a workbook or a network",
                       description="Read the analytics of chosen data items, periods and "
                                   "organisation units from a DHIS2 server's Web API, with the "
                                   "units' names, hierarchy, geometry and groups, and write a "
                                   "network workbook (--out) or add the scores to a stored "
                                   "network (--network). Credentials come from TPN_DHIS2_TOKEN "
                                   "(a personal access token) or TPN_DHIS2_USER and "
                                   "TPN_DHIS2_PASSWORD, never from the command line.")
    p.add_argument("--server", required=True, help="the DHIS2 base address, e.g. "
                                                   "https://play.dhis2.org/40")
    p.add_argument("--dx", required=True, metavar="UID;UID",
                   help="data items or indicators, separated by ;")
    p.add_argument("--pe", required=True, metavar="PERIODS",
                   help="periods, fixed (2024;2023) or relative (LAST_4_QUARTERS), "
                        "separated by ;")
    p.add_argument("--ou", required=True, metavar="UID", help="the root organisation unit")
    p.add_argument("--level", type=int, required=True,
                   help="the level of the institutions below the root (e.g. 4: facilities)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for each answer (default: 60)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="write a network workbook (.xlsx) or CSV folder "
                                     "(default: none; this or --network)")
    where.add_argument("--network", help="add the scores (and new institutions) to this "
                                         "stored network (default: none; this or --out)")
    p.add_argument("--replace", action="store_true",
                   help="with --network: replace the scores of periods it already has "
                        "(default: off)")
    p.add_argument("--keep", metavar="FOLDER", default=None,
                   help="also keep the server's answers there, for tpn convert (default: not "
                        "kept)")
    _dhis2_mapping_options(p, org_units=False)
    p.set_defaults(run=cmd_pull)

    p = sub.add_parser("init", parents=[db_opt], help="create the database (first use does too)")
    p.set_defaults(run=cmd_init)
    p = sub.add_parser("db", help="database maintenance")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    s = dsub.add_parser("upgrade", parents=[db_opt], help="bring the schema to this version")
    s.set_defaults(run=cmd_db_upgrade)

    p = sub.add_parser("import", parents=[db_opt, round_opt], help="add a workbook to a stored network",
                       description="Read a workbook, CSV folder or DHIS2 export and add it to a "
                                   "network in the database: all of it, or nothing.")
    p.add_argument("file")
    p.add_argument("--network", required=True, help="the network's name (created if new)")
    p.add_argument("--period", default=None,
                   help="period of scores that have no period column (default: current)")
    p.add_argument("--replace", action="store_true",
                   help="replace the scores of periods already imported (default: refuse)")
    p.set_defaults(run=cmd_import)

    p = sub.add_parser("networks", parents=[db_opt], help="list the stored networks")
    p.set_defaults(run=cmd_networks)

    p = sub.add_parser("language", parents=[db_opt],
                       help="the language a network's pages are shown in (show or set)",
                       description="A reader's own choice comes first, then the browser's "
                                   "languages; a network's language is for the rest, and for "
                                   "every invitation page of the network.")
    p.add_argument("network")
    p.add_argument("code", nargs="?", help="a language tpn speaks, e.g. fr (leave out to show)")
    p.set_defaults(run=cmd_language)

    p = sub.add_parser("run", parents=[db_opt, round_opt], help="match a stored network; keep the run "
                                                     "as a draft")
    p.add_argument("network")
    p.add_argument("--period", help="score period (default: the latest)")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    add_match_options(p)
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("runs", parents=[db_opt], help="list a network's match runs")
    p.add_argument("network")
    p.set_defaults(run=cmd_runs)

    p = sub.add_parser("show", parents=[db_opt], help="show one match run")
    p.add_argument("run_id", type=int, metavar="RUN")
    p.add_argument("--json", action="store_true", help="print the whole run as JSON")
    p.set_defaults(run=cmd_show)

    p = sub.add_parser("publish", parents=[db_opt],
                       help="publish a draft run: its pairs become partnerships")
    p.add_argument("run_id", type=int, metavar="RUN")
    p.add_argument("--yes", action="store_true",
                   help="publish a draft shared with its mentors even with pairs not yet "
                        "accepted or declined (default: refuse, saying how many)")
    p.set_defaults(run=cmd_publish)

    p = sub.add_parser("invite", help="invitation links: each institution answers on its own "
                                      "page; mentors accept their pairs")
    isub = p.add_subparsers(dest="invite_command", metavar="ACTION", required=True)
    s = isub.add_parser("create", parents=[db_opt, round_opt],
                        help="a link per institution (those without one for the round)")
    s.add_argument("network")
    s.add_argument("--institution", action="append", metavar="ID",
                   help="only this institution; repeat for more (default: all of them)")
    s.add_argument("--days", type=int, default=30,
                   help="days the links work (default: 30)")
    s.set_defaults(run=cmd_invite_create)
    s = isub.add_parser("list", parents=[db_opt, round_opt],
                        help="the round's live invitations and who answered")
    s.add_argument("network")
    s.add_argument("--base-url", default="http://127.0.0.1:8000",
                   help="the address the app is reached at (default: http://127.0.0.1:8000)")
    s.set_defaults(run=cmd_invite_list)
    s = isub.add_parser("revoke", parents=[db_opt, round_opt],
                        help="stop an institution's link (all of the round's without one)")
    s.add_argument("network")
    s.add_argument("institution", nargs="?", metavar="ID")
    s.set_defaults(run=cmd_invite_revoke)
    s = isub.add_parser("export", parents=[db_opt, round_opt],
                        help="the links as a list for a mail-merge (with contact columns)")
    s.add_argument("network")
    s.add_argument("--out", required=True, metavar="FILE")
    s.add_argument("--format", choices=["csv", "xlsx"], default="xlsx",
                   help="csv or xlsx (default: xlsx)")
    s.add_argument("--base-url", default="http://127.0.0.1:8000",
                   help="the address the app is reached at (default: http://127.0.0.1:8000)")
    s.add_argument("--lang", **LANG_OPTION)
    s.set_defaults(run=cmd_invite_export)
    s = isub.add_parser("ask", parents=[db_opt],
                        help="share a draft with its mentors, to accept or decline their pairs")
    s.add_argument("run_id", type=int, metavar="RUN")
    s.set_defaults(run=cmd_invite_ask)
    s = isub.add_parser("acceptance", parents=[db_opt],
                        help="where a draft's pairs stand with their mentors")
    s.add_argument("run_id", type=int, metavar="RUN")
    s.set_defaults(run=cmd_invite_acceptance)

    p = sub.add_parser("answers", parents=[db_opt, round_opt],
                       help="what the institutions answered on their pages; accept, reject, "
                            "apply, close")
    p.add_argument("network")
    p.add_argument("--accept", action="append", default=[], metavar="ID",
                   help="accept this institution's answer; repeat (default: none)")
    p.add_argument("--reject", action="append", default=[], metavar="ID",
                   help="reject this institution's answer; repeat (default: none)")
    p.add_argument("--apply", action="store_true",
                   help="make the answers (all but rejected ones) the round's focus topics, "
                        "preferred mentors and capacities (default: only list them)")
    p.add_argument("--close", action="store_true",
                   help="close the round's answers (default: leave them as they are)")
    p.add_argument("--reopen", action="store_true",
                   help="reopen the round's answers (default: leave them as they are)")
    p.add_argument("--json", action="store_true", help="print the answers as JSON")
    p.set_defaults(run=cmd_answers)

    p = sub.add_parser("edit", parents=[db_opt],
                       help="lock, exclude or swap a pair of a draft (applied by tpn rerun)")
    p.add_argument("run_id", type=int, metavar="RUN")
    p.add_argument("action", choices=["lock", "exclude", "swap"])
    p.add_argument("mentee")
    p.add_argument("topic")
    p.add_argument("mentor")
    p.add_argument("--note", default="", help="why, for the record (default: none)")
    p.add_argument("--version", type=int, default=None, dest="expected_version",
                   help="the draft's version you are editing; a newer one is a conflict "
                        "(default: do not check)")
    p.set_defaults(run=cmd_edit)

    p = sub.add_parser("rerun", parents=[db_opt, round_opt],
                       help="a new draft from a run with its edits applied, or a new round on "
                            "new scores keeping the published partnerships stable",
                       description="tpn rerun RUN: the run's inputs again, with its review "
                                   "edits applied. tpn rerun --network NAME: match the "
                                   "latest scores (or --period) keeping the published "
                                   "partnerships stable: those from --keep-from-step on are "
                                   "locked, the others earn --weight-continuity for staying "
                                   "as they are, and pairs whose review closed their "
                                   "partnership are not proposed again.")
    p.add_argument("run_id", type=int, metavar="RUN", nargs="?", default=None,
                   help="the run to rerun (default: none; give RUN or --network)")
    p.add_argument("--network", default=None,
                   help="rerun this network's published round on new scores (default: none)")
    p.add_argument("--period", default=None, help="with --network: score period (default: "
                                                  "the latest)")
    p.add_argument("--keep-from-step", type=int, default=KEEP_FROM_STEP, metavar="STEP",
                   help="with --network: lock the partnerships that reached this step of the "
                        "cycle with its record written, or passed it: 1 agreement, 2 baseline, "
                        "3 priorities, 4 action plan, 5 action, 6 review (default: "
                        f"{KEEP_FROM_STEP}, once the agreement is signed)")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    add_match_options(p)
    p.set_defaults(run=cmd_rerun)

    p = sub.add_parser("partnership", help="published partnerships and their step of the "
                                           "6-step cycle")
    psub = p.add_subparsers(dest="partnership_command", metavar="ACTION", required=True)
    s = psub.add_parser("list", parents=[db_opt], help="the partnerships under way")
    s.add_argument("network")
    s.add_argument("--ended", action="store_true", help="list ended partnerships too "
                                                        "(default: off)")
    s.add_argument("--json", action="store_true", help="print them as JSON")
    s.set_defaults(run=cmd_partnership_list)
    s = psub.add_parser("show", parents=[db_opt], help="one partnership: its step, scores "
                                                       "and dated records")
    s.add_argument("partnership_id", type=int, metavar="ID")
    s.add_argument("--json", action="store_true", help="print it as JSON")
    s.set_defaults(run=cmd_partnership_show)
    s = psub.add_parser("export", parents=[db_opt], help="every partnership and its records: "
                        "a sheet per kind of record and one for the action plans' activities")
    s.add_argument("network")
    s.add_argument("--format", choices=("xlsx", "csv"), default="xlsx",
                   help="xlsx: one workbook; csv: a folder of files (default: xlsx)")
    s.add_argument("--out", required=True, help="the workbook or folder to write")
    s.add_argument("--lang", **LANG_OPTION)
    s.set_defaults(run=cmd_partnership_export)
    s = psub.add_parser("import", parents=[db_opt],
                        help="read back the records workbook tpn partnership export wrote "
                             "(edited in a spreadsheet): changed records are updated, rows "
                             "without a record id added; all of it or nothing")
    s.add_argument("network")
    s.add_argument("file", help="the .xlsx workbook")
    s.set_defaults(run=cmd_partnership_import)
    s = psub.add_parser("step", parents=[db_opt], help="move a partnership to a step: 1 "
                        "agreement, 2 baseline, 3 priorities, 4 action planning, 5 action, "
                        "6 review")
    s.add_argument("partnership_id", type=int, metavar="ID")
    s.add_argument("step", type=int, metavar="STEP")
    s.set_defaults(run=cmd_partnership_step)

    p = sub.add_parser("diff", parents=[db_opt], help="pairs kept, changed, new and ended "
                                                      "between two runs")
    p.add_argument("run_a", type=int, metavar="RUN_A")
    p.add_argument("run_b", type=int, metavar="RUN_B")
    p.add_argument("--json", action="store_true", help="print the difference as JSON")
    p.set_defaults(run=cmd_diff)

    p = sub.add_parser("backup", parents=[db_opt], help="a whole network as one file")
    p.add_argument("network")
    p.add_argument("file")
    p.set_defaults(run=cmd_backup)

    p = sub.add_parser("restore", parents=[db_opt], help="a network from a backup file")
    p.add_argument("file")
    p.add_argument("--network", default=None,
                   help="restore under this name (default: the name in the backup)")
    p.set_defaults(run=cmd_restore)

    p = sub.add_parser("export", parents=[db_opt], help="export a run's pairs")
    p.add_argument("run_id", type=int, metavar="RUN")
    p.add_argument("--format", default="csv", choices=["csv", "xlsx", "json"],
                   help="csv (a folder), xlsx or json (default: csv)")
    p.add_argument("--out", required=True, help="where to write")
    p.add_argument("--lang", **LANG_OPTION)
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("template", help="write an empty network workbook to start from")
    p.add_argument("path", help="the .xlsx file to write")
    p.set_defaults(run=cmd_template)

    p = sub.add_parser("generate", help="write a synthetic network of any size")
    p.add_argument("--institutions", type=int, required=True, help="how many institutions")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--topics", type=int, default=10, help="how many topics (default: 10)")
    p.add_argument("--focus-per-institution", type=int, default=2,
                   help="focus topics per institution (default: 2)")
    p.add_argument("--out", required=True, help="an .xlsx file or a folder")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("focus", help="focus topics: suggestions from the gap analysis")
    fsub = p.add_subparsers(dest="focus_command", metavar="ACTION", required=True)
    s = fsub.add_parser("suggest", parents=[db_opt, round_opt],
                        help="each institution's suggested focus topics",
                        description="Rank each institution's topics by how far it is below "
                                    "the high-performer benchmark of its kind; write a focus "
                                    "sheet a facilitator can edit, or (--network) suggest on a "
                                    "stored network and --apply the result as its focus.")
    s.add_argument("data", nargs="?", help="a workbook, CSV folder or DHIS2 export (or use "
                                           "--network)")
    s.add_argument("--network", default=None, help="a stored network instead of a file "
                                                   "(default: none)")
    s.add_argument("--apply", action="store_true",
                   help="with --network: make the suggestions the round's focus (default: off)")
    s.add_argument("--per-institution", type=int, default=2,
                   help="topics per institution (default: 2)")
    s.add_argument("--period", help="score period (default: the latest)")
    s.add_argument("--out", default="focus.csv", help="the focus file to write "
                                                      "(default: focus.csv)")
    add_match_options(s)
    s.set_defaults(run=cmd_focus_suggest)
    s = fsub.add_parser("set", parents=[db_opt, round_opt], help="an institution chooses a topic "
                                                      "(stored network)")
    s.add_argument("network")
    s.add_argument("institution")
    s.add_argument("topic")
    s.add_argument("--priority", type=int, default=1, help="1 = most important (default: 1)")
    s.set_defaults(run=cmd_focus_set)
    s = fsub.add_parser("remove", parents=[db_opt, round_opt], help="drop a chosen topic (stored network)")
    s.add_argument("network")
    s.add_argument("institution")
    s.add_argument("topic")
    s.set_defaults(run=cmd_focus_remove)
    s = fsub.add_parser("list", parents=[db_opt, round_opt], help="the chosen topics (stored network)")
    s.add_argument("network")
    s.set_defaults(run=cmd_focus_list)

    for entity in ("institution", "topic"):
        p = sub.add_parser(entity, help=f"change a stored {entity}, with history")
        esub = p.add_subparsers(dest=f"{entity}_command", metavar="ACTION", required=True)
        s = esub.add_parser("set", parents=[db_opt], help=f"set fields of a {entity}")
        s.add_argument("network")
        s.add_argument("key", metavar="ID")
        s.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")
        s.set_defaults(run=cmd_set_fields, entity=entity)

    p = sub.add_parser("evaluate", parents=[db_opt, round_opt],
                       help="did institutions improve more on the topics they chose?",
                       description="For each topic and kind: the effect of having chosen the "
                                   "topic on the follow-up score, adjusted for the baseline "
                                   "(institutions choose their weakest topics, which rise "
                                   "anyway: regression to the mean), with a robust interval "
                                   "and the smallest effect it could detect; the unadjusted "
                                   "difference beside it, labelled; among those that chose "
                                   "it, mentored against not; and each partnership before "
                                   "and after.")
    p.add_argument("network", help="a stored network, or a workbook/CSV folder")
    p.add_argument("--from", dest="from_period", required=True, help="the earlier period")
    p.add_argument("--to", dest="to_period", required=True, help="the later period")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence level of the intervals (default: 0.95)")
    p.add_argument("--by-region", action="store_true",
                   help="also adjust for the region (a fixed effect per region) (default: off)")
    p.add_argument("--pairs", metavar="PAIRS.csv", default=None,
                   help="for a workbook: the pairs of the round (a pairs.csv of tpn match), "
                        "for the mentored contrast (default: none)")
    p.add_argument("--json", action="store_true", help="print one object per topic as JSON")
    p.add_argument("--out", default=None, help="write a printable HTML report here "
                                               "(default: none)")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("history", parents=[db_opt], help="changes to institutions and topics")
    p.add_argument("network")
    p.add_argument("key", nargs="?", metavar="ID", help="only this institution or topic "
                                                        "(default: all)")
    p.set_defaults(run=cmd_history)

    serve_opt = argparse.ArgumentParser(add_help=False)
    serve_opt.add_argument("--host", default="127.0.0.1",
                           help="address to listen on; 0.0.0.0 lets the room's laptops in "
                                "(default: 127.0.0.1)")
    serve_opt.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    serve_opt.add_argument("--threads", type=int, default=8,
                           help="requests served at once (default: 8)")
    serve_opt.add_argument("--instance", default=None,
                           help="folder of the database, secret key and uploads (default: "
                                "TPN_INSTANCE, else ./instance)")
    serve_opt.add_argument("--debug", action="store_true",
                           help="Flask's development server with reloading, never for a "
                                "workshop (default: off, the production server waitress)")
    p = sub.add_parser("serve", parents=[db_opt, serve_opt], help="run the workshop app")
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser("demo", parents=[db_opt, serve_opt],
                       help="the workshop app on the sample network, with a demo account",
                       description="Import the sample network (once), match it (once), give "
                                   "the facilitator account 'demo' a new password, print it, "
                                   "and serve the app.")
    p.add_argument("--no-serve", action="store_true",
                   help="set up and print, but do not serve (default: serve)")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("event", help="learning events of the whole network, with who attended")
    esub = p.add_subparsers(dest="event_command", metavar="ACTION", required=True)
    s = esub.add_parser("add", parents=[db_opt], help="record a network learning event",
                        description="tpn event add NETWORK --date D --kind K --title T ...: "
                                    "an exchange or coaching visit, a virtual or in-person "
                                    "learning session, and who attended (a partnership "
                                    "brings both its institutions).")
    s.add_argument("network")
    s.add_argument("--date", required=True, help="the day it was held, YYYY-MM-DD")
    s.add_argument("--kind", required=True, choices=EVENT_KINDS, metavar="KIND",
                   help=", ".join(EVENT_KINDS))
    s.add_argument("--title", required=True)
    for name, help_ in (("place", "where (default: none)"),
                        ("organiser", "who runs it (default: none)"),
                        ("agenda", "its agenda (default: none)"),
                        ("outputs", "what came out of it (default: none)")):
        s.add_argument(f"--{name}", default="", help=help_)
    s.add_argument("--topic", action="append", default=[], metavar="TOPIC",
                   help="a topic it was about, id or name; repeat for more (default: none)")
    s.add_argument("--institution", action="append", default=[], metavar="INSTITUTION",
                   help="an institution attending on its own, id or name; repeat (default: "
                        "none)")
    s.add_argument("--partnership", action="append", default=[], type=int, metavar="ID",
                   help="a partnership attending (both its institutions); repeat (default: "
                        "none)")
    s.set_defaults(run=cmd_event_add)
    s = esub.add_parser("list", parents=[db_opt], help="the network's learning events, by date")
    s.add_argument("network")
    s.add_argument("--json", action="store_true", help="print them as JSON")
    s.set_defaults(run=cmd_event_list)

    p = sub.add_parser("record", help="the dated records of a partnership's cycle: "
                                      + ", ".join(RECORDS))
    rsub = p.add_subparsers(dest="record_command", metavar="ACTION", required=True)
    s = rsub.add_parser("add", parents=[db_opt], help="write a record of a partnership",
                        description="tpn record add ID KIND FIELD=VALUE ...: the fields of "
                                    "each kind are those of the app's forms (tpn record "
                                    "fields KIND lists them). A field of several lines is "
                                    "given once per line (priorities=A priorities=B); an "
                                    "activity of an action plan as activity=WHAT|OWNER|DUE|DONE.")
    s.add_argument("partnership_id", type=int, metavar="ID")
    s.add_argument("kind", choices=list(RECORDS), metavar="KIND",
                   help=", ".join(RECORDS))
    s.add_argument("values", nargs="*", metavar="FIELD=VALUE")
    s.add_argument("--topic", metavar="TOPIC",
                   help="the partnership's topic that a priorities or action_plan record is "
                        "about (default: the whole partnership)")
    s.set_defaults(run=cmd_record_add)
    s = rsub.add_parser("list", parents=[db_opt], help="a partnership's records, by date")
    s.add_argument("partnership_id", type=int, metavar="ID")
    s.add_argument("--json", action="store_true", help="print them as JSON")
    s.set_defaults(run=cmd_record_list)
    s = rsub.add_parser("show", parents=[db_opt], help="one record and every field of it")
    s.add_argument("record_id", type=int, metavar="RECORD")
    s.add_argument("--json", action="store_true", help="print it as JSON")
    s.set_defaults(run=cmd_record_show)
    s = rsub.add_parser("fields", help="the fields of a kind of record")
    s.add_argument("kind", choices=list(RECORDS), metavar="KIND", help=", ".join(RECORDS))
    s.set_defaults(run=cmd_record_fields)

    p = sub.add_parser("user", help="accounts of the workshop app")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    s = usub.add_parser("add", parents=[db_opt], help="add an account (the first admin too)")
    s.add_argument("username")
    s.add_argument("--role", default="facilitator", choices=("admin", "facilitator", "viewer"),
                   help="admin, facilitator or viewer (default: facilitator)")
    s.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input instead of asking "
                        "(default: ask twice, without echo)")
    s.set_defaults(run=cmd_user_add)
    s = usub.add_parser("list", parents=[db_opt], help="list the accounts")
    s.set_defaults(run=cmd_user_list)
    s = usub.add_parser("give", parents=[db_opt],
                        help="give an account one network, with a role there; an account "
                             "given networks works on those alone")
    s.add_argument("username")
    s.add_argument("network")
    s.add_argument("--role", default="facilitator", choices=("facilitator", "viewer"),
                   help="its role on that network (default: facilitator)")
    s.set_defaults(run=cmd_user_give)
    s = usub.add_parser("take", parents=[db_opt], help="take a network back from an account")
    s.add_argument("username")
    s.add_argument("network")
    s.set_defaults(run=cmd_user_take)
    return parser


# --- commands ---------------------------------------------------------------------------


def cmd_match(args) -> int:
    from .runtime.progress import TerminalProgress
    from .services.files import match_file, write_match
    from .tabular.results import explain_text, summary

    checked(args.lang, "--lang")
    started = perf_counter()
    progress = TerminalProgress()
    progress.enabled = progress.enabled and not args.json
    with keeping() if args.lang != "en" else contextlib.nullcontext():
        match = match_file(args.data, options_from_args(args), args.period, args.auto_focus,
                           args.lock, args.exclude, args.previous, progress)
    progress.done()
    result, network, period = match.result, match.network, match.problem.snapshot.period
    pairs_csv, unmatched_csv = write_match(args.out, match)[:2]
    if args.explain:
        sys.stdout.write(explain_text(result, network, args.lang))
    if args.json:
        print(json.dumps(summary(result, network, perf_counter() - started), sort_keys=True))
    elif not args.explain:
        print(f"{len(result.pairs)} pairs, {len(result.unmatched)} unmatched requests "
              f"(period {period}); wrote {pairs_csv} and {unmatched_csv}")
    flags = result.objective.get("flagged_scores", 0)
    if flags and not args.json:
        print(f"{flags} flagged score(s) of period {period} were not trusted (never a "
              f"mentor's; a mentee's counts as unknown): tpn check {args.data} lists them",
              file=sys.stderr)
    return 0


def _dhis2_mapping_options(p, org_units: bool = True) -> None:
    """The options that turn DHIS2 responses into a network (tpn convert and tpn pull)."""
    d = p.add_argument_group("DHIS2 mapping")
    d.add_argument("--region-level", type=int, default=2,
                   help="hierarchy level whose unit is the region; 1 = the root (default: 2)")
    d.add_argument("--kind-level", type=int, default=None,
                   help="hierarchy level whose unit is the kind (default: none)")
    d.add_argument("--kind-pattern", default=None,
                   help="regular expression on the unit name giving the kind, e.g. "
                        "'(Hospital|CHC|CHP|MCHP|Clinic)$' (default: none)")
    d.add_argument("--kind-default", default="facility",
                   help="kind when neither level nor pattern gives one (default: facility)")
    d.add_argument("--derive", action="append", default=[], metavar="ID[:NAME]=FORMULA",
                   help="a derived indicator, e.g. 'anc_retention:ANC retention="
                        "#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100'; repeatable (default: none)")
    d.add_argument("--keep-items", action="store_true",
                   help="keep the raw data items as topics besides derived ones (default: off)")
    d.add_argument("--direction", action="append", default=[], metavar="ID=higher|lower",
                   help="direction of a topic; repeatable (default: higher)")
    if org_units:
        d.add_argument("--org-units", metavar="FILE", default=None,
                       help="organisationUnits.json with names (and paths, geometry, "
                            "groups): a unit's geometry gives its coordinates (default: none)")
    d.add_argument("--kind-groupset", metavar="UID", default=None,
                   help="an organisation unit group set: a unit's kind is the name of its "
                        "group in it, e.g. facility type (default: none)")
    p.add_argument("--range", action="append", default=[], metavar="ID=MIN:MAX",
                   help="the plausible range of a topic's scores, e.g. anc_retention=0:100 "
                        "(either side may be empty); a score outside it is flagged and never "
                        "makes a mentor; repeatable, for raw and derived topics alike "
                        "(default: none)")


def _ranges(args) -> dict:
    from .tabular.dhis2 import parse_range

    ranges = {}
    for text in args.range:
        try:
            topic_id, bounds = parse_range(text)
        except ValueError as exc:
            raise InputError(Problem("", None, None, "--range", str(exc), "see tpn convert "
                                     "--help")) from None
        ranges[topic_id] = bounds
    return ranges


def _dhis2_mapping(args, org_units: str | None, ranges: dict):
    from .tabular import Dhis2Mapping

    directions = {}
    for item in args.direction:
        key, _, value = item.partition("=")
        directions[key.strip()] = value.strip()
    return Dhis2Mapping(region_level=args.region_level, kind_level=args.kind_level,
                        kind_pattern=args.kind_pattern, kind_default=args.kind_default,
                        derive=tuple(args.derive), keep_items=args.keep_items,
                        directions=directions, org_units=org_units,
                        kind_groupset=args.kind_groupset, ranges=ranges)


def cmd_convert(args) -> int:
    from .tabular import read_dhis2, read_network, write_network
    from .tabular.dhis2 import unknown_topics, with_ranges

    src = Path(args.input)
    ranges = _ranges(args)
    if src.suffix.lower() in (".json", ".csv") and src.is_file():
        network = read_dhis2(src, _dhis2_mapping(args, args.org_units, ranges))
    else:
        network = read_network(src)
        problems = unknown_topics(ranges, {t.id for t in network.topics}, "--range")
        if problems:
            raise InputError(problems)
        network = with_ranges(network, ranges)
    path = write_network(network, args.out)
    regions = {i.region for i in network.institutions if i.region}
    print(f"wrote {path}: {len(network.institutions)} institutions in {len(regions)} regions, "
          f"{len(network.topics)} topics, periods {', '.join(network.periods) or 'none'}")
    return 0


def cmd_pull(args) -> int:
    import tempfile

    from .runtime.progress import TerminalProgress
    from .tabular import read_dhis2, write_network
    from .tabular.dhis2_web import Dhis2Server, pull

    if args.timeout <= 0:
        raise InputError(Problem("", None, None, "--timeout", f"{args.timeout} is not a "
                                 "number of seconds", "give a positive number"))
    if args.level < 1:
        raise InputError(Problem("", None, None, "--level", f"{args.level} is not a level",
                                 "give 1 (the root) or a level below it"))
    ranges = _ranges(args)
    mapping = _dhis2_mapping(args, None, ranges)      # checked before the server is asked
    split = lambda text: [x.strip() for x in text.split(";") if x.strip()]
    server = Dhis2Server.from_environ(args.server, timeout=args.timeout)
    if not server.token and not server.user and sys.stdin.isatty():
        import getpass

        user = input("DHIS2 user name: ").strip()
        server = replace(server, user=user, password=getpass.getpass("DHIS2 password: "))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep) if args.keep else Path(scratch)
        analytics, units = pull(server, split(args.dx), split(args.pe), args.ou, args.level,
                                folder, TerminalProgress())
        network = read_dhis2(analytics, replace(mapping, org_units=str(units)))
    if args.out:
        path = write_network(network, args.out)
        print(f"wrote {path}: {len(network.institutions)} institutions, "
              f"{len(network.topics)} topics, periods {', '.join(network.periods) or 'none'}")
        return 0
    from . import services

    info = services.import_file(_db(args), analytics.name, args.network, replace=args.replace,
                                author=args.author, data=network, source=f"DHIS2 {args.server}")
    print(f"added to {args.network}: {info.scores} scores in period(s) "
          f"{', '.join(info.periods) or 'none'}, {info.institutions} institutions")
    return 0


def cmd_template(args) -> int:
    from .tabular import write_template

    print(f"wrote {write_template(args.path)}")
    return 0


def cmd_generate(args) -> int:
    from .samples import generate
    from .tabular import write_network

    if args.institutions < 1:
        raise InputError(Problem("", None, None, "--institutions", "must be at least 1", ""))
    network = generate(args.institutions, seed=args.seed, topics=args.topics,
                       focus_per_institution=args.focus_per_institution)
    print(f"wrote {write_network(network, args.out)}: {len(network.institutions)} institutions, "
          f"{len(network.focus)} focus requests")
    return 0


def cmd_focus_suggest(args) -> int:
    from .matching.focus import suggest_focus
    from .tabular import read_network, write_csv

    if (args.data is None) == (args.network is None):
        raise InputError(Problem("", None, None, "data", "give a file or --network NAME "
                                 "(one of them)", "see tpn focus suggest --help"))
    if args.network:
        from . import services

        suggestions = services.suggest_focus(_db(args), args.network, args.per_institution,
                                             options_from_args(args), args.period, args.apply,
                                             args.author, args.round_name)
    else:
        if args.apply:
            raise InputError(Problem("", None, None, "--apply", "--apply needs --network",
                                     "suggest on a stored network, or edit the focus file"))
        from .quality import flagged

        options = options_from_args(args)
        network = flagged(read_network(args.data), options)
        suggestions = suggest_focus(network, network.snapshot(args.period), options,
                                    args.per_institution)
    header = ["institution_id", "topic_id", "priority", "score", "percentile", "benchmark",
              "percentile_gap", "mentors_available"]
    rows = [[s.institution_id, s.topic_id, str(s.rank), f"{s.score:g}", f"{s.percentile:.1f}",
             f"{s.benchmark:g}", f"{s.percentile_gap:.1f}", str(s.mentors_available)]
            for s in suggestions]
    write_csv(Path(args.out), header, rows)
    nobody = sum(1 for s in suggestions if s.mentors_available == 0)
    print(f"wrote {args.out}: {len(rows)} suggested focus topics"
          + (f"; {nobody} have no possible mentor (mentors_available 0)" if nobody else "")
          + (f"; applied as the focus of round {args.round_name}" if args.apply else ""))
    return 0


def _db(args):
    from .storage import Database

    return Database.open(args.db)


def cmd_init(args) -> int:
    db = _db(args)
    print(f"database ready at {db.engine.url.render_as_string(hide_password=True)} "
          f"(schema {db.revision()})")
    return 0


def cmd_db_upgrade(args) -> int:
    from .storage import Database

    db = Database.open(args.db, upgrade=False, check=False)
    before = db.revision()
    db.upgrade()
    print(f"schema {before or 'none'} -> {db.revision()}")
    return 0


def cmd_import(args) -> int:
    from . import services

    info = services.import_file(_db(args), args.file, args.network, args.period, args.replace,
                                args.author, args.round_name)
    print(f"imported into {args.network}: {info.institutions} institutions, "
          f"{info.topics} topics, {info.scores} scores in period(s) "
          f"{', '.join(info.periods) or 'none'}, {info.focus} focus topics"
          + (f"; replaced {', '.join(info.replaced)}" if info.replaced else ""))
    _say_unknown_periods(args)
    for c in info.coverage:
        topics = ", ".join(f"{topic} {n}" for topic, n in c.scores_by_topic)
        print(f"  {c.period}: scores per topic: {topics or 'none'}; "
              f"{c.institutions_without} of {info.institutions} institutions have none")
    if info.quality != "no score flagged":
        print(f"data quality: {info.quality}; see tpn check --network {args.network}")
    return 0


def _say_unknown_periods(args) -> None:
    """Periods that are none of DHIS2's types sort as text: said, when it matters."""
    from . import services
    from .models import unknown_periods

    periods = services.load(_db(args), args.network).periods
    odd = unknown_periods(periods)
    if len(periods) > 1 and odd:
        print(f"note: {', '.join(odd)} {'is' if len(odd) == 1 else 'are'} not a DHIS2 period "
              "id: ordered as text, after the dated periods (the latest is "
              f"{periods[-1]})")


def cmd_language(args) -> int:
    from . import services
    from .i18n import languages

    if args.code is not None:
        services.set_network_language(_db(args), args.network, args.code, args.author)
    code = services.network_language(_db(args), args.network)
    print(f"{args.network}: {code} ({languages().get(code, code)})")
    return 0


def cmd_networks(args) -> int:
    from . import services

    for name in services.networks(_db(args)):
        print(name)
    return 0


def cmd_run(args) -> int:
    from . import services
    from .runtime.progress import TerminalProgress

    progress = TerminalProgress()
    progress.enabled = progress.enabled and not args.json
    info = services.run_match(_db(args), args.network, args.period, options_from_args(args),
                              args.author, progress, args.round_name)
    progress.done()
    if args.json:
        print(json.dumps(info.as_dict(), sort_keys=True, default=str))
    else:
        print(f"run {info.id} (draft): {info.matched} pairs, {info.unmatched} "
              f"unmatched requests, period {info.period}; publish with: tpn publish "
              f"{info.id}")
    return 0


def cmd_runs(args) -> int:
    from . import services

    for r in services.runs(_db(args), args.network):
        s = r.summary
        print(f"{r.id:>5}  {r.status:<11} period {r.period:<10} {r.solver:<6} "
              f"{s['matched']} pairs, {s['unmatched']} unmatched  "
              f"{r.created_at:%Y-%m-%d %H:%M} by {r.created_by}")
    return 0


def cmd_show(args) -> int:
    from . import services

    run = services.show_run(_db(args), args.run_id)
    if args.json:
        from dataclasses import asdict

        doc = {**run.as_dict(), "network_metrics": asdict(services.run_metrics(_db(args),
                                                                             args.run_id))}
        print(json.dumps(doc, sort_keys=True, default=str, indent=2))
        return 0
    s = run.summary
    print(f"run {run.id} of {run.network}: {run.status}, period {run.period}, "
          f"solver {run.solver}, tpn {run.tpn_version}, inputs {run.input_hash[:12]}")
    print(f"{s['matched']} pairs, {s['unmatched']} unmatched of {s['requests']} requests")
    m = services.run_metrics(_db(args), args.run_id)
    print(f"network: {m.institutions_reached} of {m.institutions} institutions reached; "
          f"{m.mentors} mentors, {m.learners} learners, {len(m.mentor_and_learner)} both; "
          f"mentees per mentor " + ", ".join(f"{k}: {v}" for k, v in m.mentor_load.items())
          + f"; {len(m.mutual_pairs)} mutual pair(s); {len(m.components)} group(s) linked by "
          f"pairs (largest {m.components[0] if m.components else 0}); {m.within_region} "
          f"pair(s) within a region, {sum(m.regions_linked.values())} across regions")
    for p in run.pairs:
        print(f"  {p['mentee_name']} learns {p['topic_id']} from {p['mentor_name']}")
    return 0


def cmd_publish(args) -> int:
    from . import services

    info = services.publish(_db(args), args.run_id, args.author, confirmed=args.yes)
    print(f"run {info.run_id} published: {info.pairs} pairs in {info.partnerships} "
          f"partnerships ({info.new} "
          f"new, {info.continued} continued, {info.ended} ended)"
          + (f"; {info.superseded} earlier run superseded" if info.superseded else ""))
    return 0


def cmd_invite_create(args) -> int:
    from .services import invitations

    made = invitations.create(_db(args), args.network, args.institution, args.days,
                              args.author, args.round_name)
    print(f"{len(made)} live invitations in round {args.round_name} of {args.network}; "
          f"list them with: tpn invite list {args.network}")
    return 0


def cmd_invite_list(args) -> int:
    from .services import invitations

    board = invitations.board(_db(args), args.network, args.round_name)
    answered = {a.institution_id: a for a in board.answers}
    for i in board.invited:
        a = answered.get(i.institution_id)
        state = f"answered {a.answered_at:%Y-%m-%d} ({a.status})" if a else "not answered"
        print(f"{i.institution_id:<24} {state:<30} until {i.expires_at:%Y-%m-%d}  "
              f"{invitations.link(args.base_url, i.token)}")
    print(f"{len(board.answers)} of {len(board.invited)} answered"
          + (f"; answers closed {board.closed_at:%Y-%m-%d}" if board.closed_at else ""))
    return 0


def cmd_invite_revoke(args) -> int:
    from .services import invitations

    n = invitations.revoke(_db(args), args.network, args.institution, args.round_name)
    print(f"{n} invitation(s) revoked")
    return 0


def cmd_invite_export(args) -> int:
    from .services import invitations

    out = invitations.export(_db(args), args.network, args.base_url, args.format, args.out,
                             args.round_name, args.lang)
    print(f"wrote {out}")
    return 0


def cmd_invite_ask(args) -> int:
    from .services import invitations

    invitations.ask_mentors(_db(args), args.run_id, args.author)
    print(f"run {args.run_id} is shared with its mentors: each one's invitation page lists "
          "its proposed mentees to accept or decline")
    return 0


def cmd_invite_acceptance(args) -> int:
    from . import services
    from .services import invitations

    state = invitations.acceptance(_db(args), args.run_id)
    for p in services.show_run(_db(args), args.run_id).pairs:
        status = state.status(p["mentee_id"], p["topic_id"], p["mentor_id"]) or "not asked"
        print(f"{status:<9} {p['mentee_id']} on {p['topic_id']} with {p['mentor_id']}")
    for r in state.declined:
        print(f"declined by {r.mentor_id}: {r.mentee_id} on {r.topic_id}: {r.reason}")
    print(f"{len(state.accepted)} accepted, {len(state.declined)} declined, "
          f"{len(state.pending)} pending")
    return 0


def cmd_answers(args) -> int:
    from dataclasses import asdict

    from .services import invitations

    db = _db(args)
    for institution in args.accept:
        invitations.decide(db, args.network, institution, "accepted", args.author,
                           args.round_name)
    for institution in args.reject:
        invitations.decide(db, args.network, institution, "rejected", args.author,
                           args.round_name)
    if args.apply:
        done = invitations.apply(db, args.network, args.author, args.round_name)
        print(f"applied the answers of {done.institutions} institutions: {done.focus} focus "
              f"topics, {done.capacities} capacities ({done.rejected} rejected left out)")
    if args.close or args.reopen:
        invitations.close(db, args.network, args.author, args.round_name, closed=args.close)
    board = invitations.board(db, args.network, args.round_name)
    if args.json:
        print(json.dumps([asdict(a) for a in board.answers], sort_keys=True, default=str))
        return 0
    for a in board.answers:
        topics = "; ".join(f.topic_id + (f" (asks {', '.join(f.preferred)})" if f.preferred
                                         else "") for f in a.focus)
        capacity = "" if a.capacity is None else f", can take {a.capacity}"
        print(f"{a.institution_id:<24} {a.status:<9} {topics}{capacity}")
    print(f"{len(board.answers)} of {len(board.invited)} invited answered; not yet: "
          + (", ".join(i.institution_id for i in board.waiting) or "none")
          + ("; answers are closed" if board.closed_at else ""))
    return 0


def cmd_edit(args) -> int:
    from . import services

    version = services.edit_draft(_db(args), args.run_id, args.action, args.mentee, args.topic,
                                  args.mentor, args.author, args.note, args.expected_version)
    print(f"run {args.run_id}: {args.action} {args.mentee} / {args.topic} / {args.mentor} "
          f"recorded (version {version}); apply with: tpn rerun {args.run_id}")
    return 0


def cmd_rerun(args) -> int:
    from . import services

    if (args.run_id is None) == (args.network is None):
        raise InputError(Problem("", None, None, "RUN", "give a run or --network, not both "
                                 "or neither", "see tpn rerun --help"))
    if args.network:
        info = services.rerun_round(_db(args), args.network, args.period,
                                    options_from_args(args), args.author,
                                    round_name=args.round_name,
                                    keep_from_step=args.keep_from_step)
        closed = len(info.summary["partnerships"]["closed"])
        origin = (f"new scores, {info.kept_locked} partnership"
                  f"{'' if info.kept_locked == 1 else 's'} locked (from step "
                  f"{args.keep_from_step}), {info.continuing} with the continuity bonus"
                  + (f", {closed} closed by their review left out" if closed else ""))
    else:
        info = services.rerun(_db(args), args.run_id, args.author)
        origin = f"from run {args.run_id}"
    if args.json:
        print(json.dumps(info.as_dict(), sort_keys=True, default=str))
        return 0
    print(f"run {info.id} (draft, {origin}): {info.matched} pairs, "
          f"{info.unmatched} unmatched requests")
    if "previous" in info.summary:
        kept = info.summary["previous"]
        print(f"  {kept['kept']} of the {kept['pairs']} previous pairs kept"
              + (f" ({kept['keepable']} could be kept together)" if "keepable" in kept else ""))
    for r in info.rejected:
        print(f"  not kept: {r.lock.mentee_id} / {r.lock.topic_id} / {r.lock.mentor_id}: "
              f"{r.reason}")
    parent = services.show_run(_db(args), info.id).parent_id
    if parent is not None:
        diff = services.diff_runs(_db(args), parent, info.id)
        print(f"  since run {diff['from']}: {len(diff['kept'])} pairs kept, "
              f"{len(diff['changed'])} with another mentor, {len(diff['new'])} new, "
              f"{len(diff['ended'])} ended")
        _print_changes(diff)
    return 0


def _print_changes(diff: dict) -> None:
    """Each pair that moved between two runs, and why (tpn diff, tpn rerun)."""
    for c in diff["changed"]:
        print(f"  changed: {c['mentee_id']} on {c['topic_id']}: {c['was']} -> {c['mentor_id']}"
              f" ({c['reason']}: {c['detail']})")
    for kind in ("new", "ended"):
        for p in diff[kind]:
            print(f"  {kind}: {p['mentee_id']} on {p['topic_id']} with {p['mentor_id']} "
                  f"({p['reason']}: {p['detail']})")


def cmd_partnership_list(args) -> int:
    from .services import programme

    rows = programme.partnerships(_db(args), args.network, ended=args.ended)
    if args.json:
        print(json.dumps(rows, sort_keys=True, default=str))
        return 0
    for r in rows:
        status = f"ended: {r['ended_how']}" if r["ended_at"] else \
            f"step {r['step']} {r['step_name']}"
        print(f"{r['id']:>5}  {status:<22} {r['mentee_id']} learns {', '.join(r['topics'])} "
              f"from {r['mentor_id']}")
    return 0


def cmd_partnership_step(args) -> int:
    from .services import programme

    row = programme.set_step(_db(args), args.partnership_id, args.step, args.author)
    print(f"partnership {args.partnership_id} ({row['mentee_id']} with {row['mentor_id']}) "
          f"is at step {args.step}: {programme.STEPS[args.step]}")
    return 0


def cmd_partnership_show(args) -> int:
    from .services import programme

    p = programme.partnership(_db(args), args.partnership_id)
    if args.json:
        print(json.dumps(p, sort_keys=True, default=str))
        return 0
    print(f"partnership {p['id']}: {p['mentee_name']} learns {p['topics_text']} from "
          f"{p['mentor_name']} ({p['network']})")
    print("  " + (f"ended: {p['ended_how']}" if p["ended_at"] else
                  f"step {p['step']}: {p['step_name']}"))
    for topic in p["scores"]:
        for s in topic["periods"]:
            print(f"  scores on {topic['topic_id']} {s['period']}: mentee {s['mentee']}, "
                  f"mentor {s['mentor']}")
    for r in p["records"]:
        on = f" on {r['topic_key']}" if r["topic_key"] else ""
        print(f"  {r['dated']}  {r['title']}{on} (record {r['id']}, by {r['updated_by']})")
    for a in p["overdue"]:
        print(f"  overdue since {a['due']}: {a['what']} ({a['owner'] or 'no owner'})")
    if p["missing"]:
        print("  missing: " + ", ".join(p["missing"]))
    return 0


def cmd_event_add(args) -> int:
    from .services import events

    form = {"held_on": args.date, "kind": args.kind, "title": args.title, "place": args.place,
            "organiser": args.organiser, "agenda": args.agenda, "outputs": args.outputs}
    e = events.save_event(_db(args), args.network, form, args.institution, args.partnership,
                          args.topic, args.author)
    print(f"learning event {e.id}: {e.title}, {e.held_on.isoformat()} ({e.kind}); "
          f"{len(e.institutions)} institutions, {len(e.partnerships)} partnerships attending")
    return 0


def cmd_event_list(args) -> int:
    from dataclasses import asdict

    from .services import events

    found = events.events(_db(args), args.network)
    if args.json:
        print(json.dumps([asdict(e) for e in found], sort_keys=True, default=str))
        return 0
    for e in found:
        print(f"{e.id:>5}  {e.held_on.isoformat()}  {e.kind:<27} {e.title}: "
              f"{len(e.partnerships)} partnerships, {len(e.institutions)} institutions"
              + (f" ({', '.join(e.topics)})" if e.topics else ""))
    return 0


def cmd_partnership_import(args) -> int:
    from .services import programme

    done = programme.import_records(_db(args), args.network, args.file, args.author)
    print(f"{done['updated']} records updated, {done['added']} added, "
          f"{done['unchanged']} unchanged")
    return 0


def _record_form(kind: str, values: list[str]) -> dict[str, str]:
    """FIELD=VALUE arguments as the app's form would send them."""
    fields = {f.name: f for f in RECORDS[kind].fields}
    form: dict[str, str] = {}
    activities = 0
    problems = []
    for text in values:
        name, sep, value = text.partition("=")
        if not sep:
            problems.append(Problem("", None, None, text, "not FIELD=VALUE",
                                    "write each value as FIELD=VALUE"))
        elif name == "activity" and any(f.type == "activities" for f in fields.values()):
            parts = (value.split("|") + ["", "", "", ""])[:4]
            for part, v in zip(("what", "owner", "due", "done"), parts):
                form[f"activity-{activities}-{part}"] = v.strip()
            activities += 1
        elif name not in fields or fields[name].type == "activities":
            problems.append(Problem("", None, None, name, f"{kind} has no field {name!r}",
                                    f"its fields: {', '.join(fields)}"))
        elif fields[name].type == "lines" and name in form:
            form[name] += "\n" + value
        else:
            form[name] = value
    if problems:
        raise InputError(problems)
    return form


def cmd_record_add(args) -> int:
    from .services import programme

    info = programme.add_record(_db(args), args.partnership_id, args.kind,
                                _record_form(args.kind, args.values), args.author, args.topic)
    print(f"record {info['record']}: {RECORDS[args.kind].title} of partnership "
          f"{args.partnership_id}{programme.what_followed(info)}")
    return 0


def cmd_record_list(args) -> int:
    from .services import programme

    records = programme.partnership(_db(args), args.partnership_id)["records"]
    if args.json:
        print(json.dumps(records, sort_keys=True, default=str))
        return 0
    for r in records:
        on = f" on {r['topic_key']}" if r["topic_key"] else ""
        print(f"{r['id']:>6}  {r['dated']}  {r['title']}{on} (by {r['updated_by']})")
    return 0


def cmd_record_show(args) -> int:
    from .services import programme

    rec = programme.record(_db(args), args.record_id)
    if args.json:
        print(json.dumps(rec, sort_keys=True, default=str))
        return 0
    spec = RECORDS[rec["kind"]]
    on = f" on {rec['topic_key']}" if rec["topic_key"] else ""
    print(f"record {rec['id']}: {spec.title}{on} of partnership {rec['partnership_id']} "
          f"({rec['network']}), {rec['dated']}, by {rec['updated_by']}")
    for f in spec.fields:
        value = rec["fields"].get(f.name)
        if f.type == "activities":
            for a in value or ():
                print(f"  activity: {a.get('what')} | {a.get('owner') or ''} | "
                      f"{a.get('due') or ''} | {a.get('done') or ''}")
        elif value not in (None, "", []):
            shown = "; ".join(value) if isinstance(value, list) else value
            print(f"  {f.label}: {shown}")
    return 0


def cmd_record_fields(args) -> int:
    for f in RECORDS[args.kind].fields:
        what = "activity=WHAT|OWNER|DUE|DONE, once per activity" if f.type == "activities" \
            else f.type + (f" ({', '.join(f.choices)})" if f.choices else "")
        print(f"{f.name:<26} {what}{', required' if f.required else ''}"
              + (f" — {f.help}" if f.help else ""))
    return 0


def cmd_partnership_export(args) -> int:
    from .services import programme

    out = programme.export_records(_db(args), args.network, args.format, args.out, args.lang)
    print(f"wrote {out}")
    return 0


def cmd_diff(args) -> int:
    from . import services

    d = services.diff_runs(_db(args), args.run_a, args.run_b)
    if args.json:
        print(json.dumps(d, sort_keys=True))
        return 0
    print(f"from run {d['from']} to run {d['to']}: {len(d['kept'])} kept, "
          f"{len(d['changed'])} changed, {len(d['new'])} new, {len(d['ended'])} ended")
    _print_changes(d)
    return 0


def cmd_backup(args) -> int:
    from . import services

    Path(args.file).write_bytes(services.backup(_db(args), args.network))
    print(f"wrote {args.file}")
    return 0


def cmd_restore(args) -> int:
    from . import services

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise InputError(Problem(args.file, None, None, None, f"cannot read it: {exc.strerror}",
                                 "check the path")) from None
    info = services.restore(_db(args), data, args.network)
    print(f"restored {info['network']}: {info['institutions']} institutions, {info['runs']} runs")
    return 0


def cmd_focus_set(args) -> int:
    from . import services

    services.set_focus(_db(args), args.network, args.institution, args.topic, args.priority,
                       args.author, args.round_name)
    print(f"{args.institution} chose {args.topic} (priority {args.priority})")
    return 0


def cmd_focus_remove(args) -> int:
    from . import services

    removed = services.remove_focus(_db(args), args.network, args.institution, args.topic,
                                    args.round_name)
    print(f"removed {removed} focus topic(s)")
    return 0


def cmd_focus_list(args) -> int:
    from . import services

    for f in services.focus(_db(args), args.network, args.round_name):
        print(f"{f.institution_id:<24} {f.topic_id:<24} priority {f.priority}  "
              f"chosen by {f.chosen_by} {f.chosen_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_set_fields(args) -> int:
    from . import services

    assignments = {}
    for item in args.assignments:
        field, sep, value = item.partition("=")
        if not sep:
            raise InputError(Problem("", None, None, item, "write FIELD=VALUE", ""))
        assignments[field.strip()] = value
    services.set_fields(_db(args), args.network, args.entity, args.key, assignments, args.author)
    print(f"{args.entity} {args.key}: " + ", ".join(f"{k} = {v}" for k, v in assignments.items()))
    return 0


def cmd_history(args) -> int:
    from . import services

    for c in services.history(_db(args), args.network, args.key):
        print(f"{c.at:%Y-%m-%d %H:%M}  {c.author:<12} {c.entity} {c.key}: "
              f"{c.field} {c.old if c.old is not None else '(new)'} -> {c.new}  [{c.source}]")
    return 0


def cmd_evaluate(args) -> int:
    from . import services
    from .analysis.report import evaluation_html

    db = None if Path(args.network).exists() else _db(args)
    result = services.evaluate_network(db, args.network, args.from_period, args.to_period,
                                       args.confidence, args.by_region, args.round_name,
                                       args.pairs)
    if args.out:
        Path(args.out).write_text(evaluation_html(result), encoding="utf-8")
    if args.json:
        print(json.dumps([e.as_dict() for e in result.effects], sort_keys=True))
        return 0
    print(f"Effect of choosing a topic, {args.from_period} to {args.to_period}, adjusted for "
          f"the baseline ({result.confidence:.0%} intervals, in each topic's units; positive "
          "= improved more):")
    for e in result.effects:
        print(f"{e.topic_id:<22} {e.kind:<12} chose {e.n_chose:>3}, others {e.n_other:>3}: "
              + (f"{e.estimate:+.2f} ({e.ci_low:+.2f} to {e.ci_high:+.2f}; detectable from "
                 f"{e.mde:.2f}); unadjusted {e.unadjusted_difference:+.2f}"
                 if e.estimate is not None else e.note)
              + (f"; {e.n_flagged} flagged left out" if e.n_flagged else ""))
        if e.warning:
            print(f"{'':<36}note: {e.warning}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def cmd_check(args) -> int:
    from .analysis.quality import quality_report
    from .quality import Checks
    from .tabular import read_network, write_sheets
    from .tabular.writer import quality_sheets

    if (args.data is None) == (args.network is None):
        raise InputError(Problem("", None, None, "data", "give a file or --network NAME "
                                 "(one of them)", "see tpn check --help"))
    options = options_from_args(args)
    if args.network:
        from . import services

        db = _db(args)
        report = services.quality_report(db, args.network, options)
        network, title = services.load(db, args.network), args.network
    else:
        network, title = read_network(args.data), args.data
        report = quality_report(network, Checks.from_options(options))
    if args.out:
        out = Path(args.out)
        write_sheets(out, quality_sheets(report, network),
                     "xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    if args.json:
        print(json.dumps(quality_json(report), sort_keys=True))
        return 0
    print(f"Data quality of {title}: {report.summary()}")
    print(f"checks: {report.describe()}")
    unranged = sorted(t.id for t in network.topics if t.minimum is None and t.maximum is None)
    if unranged:
        print(f"no plausible range for {', '.join(unranged)}: an impossible value there (a "
              "rate above 100 %) is caught only if it is an outlier; give min and max in the "
              "topics sheet, or tpn convert --range ID=MIN:MAX")
    print(f"{'topic':<24} {'period':<10} {'institutions':>12} {'values':>7} {'missing':>8} "
          f"{'out of range':>12} {'outliers':>9} {'jumps':>6} {'accepted':>9}")
    for c in report.counts:
        print(f"{c.topic_id:<24} {c.period:<10} {c.institutions:>12} {c.values:>7} "
              f"{c.missing:>8} {c.out_of_range:>12} {c.outliers:>9} {c.jumps:>6} "
              f"{c.accepted:>9}")
    regions = [c for c in report.by_region if c.flagged]
    if regions:
        print("\nRegions with flagged scores:")
        for c in regions:
            print(f"  {c.region or '(no region)'}, {c.topic_id}, {c.period}: {c.flagged} of "
                  f"{c.values} flagged ({c.out_of_range} out of range, {c.outliers} outliers, "
                  f"{c.jumps} jumps)")
    names = {i.id: i.name for i in network.institutions}
    shown = report.flags[:FLAGS_SHOWN]
    if shown:
        print("\nFlagged scores:")
    for f in shown:
        accepted = f" [accepted by {f.accepted_by}]" if f.accepted else ""
        print(f"  {names.get(f.institution_id, f.institution_id)} ({f.institution_id}), "
              f"{f.topic_id}, {f.period}: {f.reason}{accepted}")
    if len(report.flags) > len(shown):
        print(f"  … and {len(report.flags) - len(shown)} more"
              + ("" if args.out else "; --out FILE.xlsx writes them all"))
    if args.out:
        print(f"wrote {args.out}")
    return 0


FLAGS_SHOWN = 30


def quality_json(report) -> dict:
    from dataclasses import asdict

    return {"summary": report.summary(), "checks": asdict(report.checks),
            "counts": [dict(asdict(c), missing=c.missing) for c in report.counts],
            "by_region": [dict(asdict(c), missing=c.missing) for c in report.by_region],
            "flags": [dict(asdict(f), accepted=f.accepted) for f in report.flags]}


def cmd_accept(args) -> int:
    from . import services

    db = _db(args)
    if args.withdraw:
        services.withdraw_acceptance(db, args.network, args.institution, args.topic,
                                     args.period, args.author)
        print(f"withdrawn: the score of {args.institution} on {args.topic} in {args.period} "
              "is flagged again")
        return 0
    flag = services.accept_score(db, args.network, args.institution, args.topic, args.period,
                                 args.author, args.note)
    print(f"accepted by {args.author}: {args.institution} on {args.topic} in {args.period} "
          f"({flag.reason}) now counts")
    return 0


def cmd_export(args) -> int:
    from . import services

    print(f"wrote {services.export_run(_db(args), args.run_id, args.format, args.out, args.lang)}")
    return 0


def _app(args):
    from web import create_app

    config = {"INSTANCE": args.instance}
    if args.db:
        config["DATABASE_URL"] = args.db
    return create_app(config)


def _serve(app, args) -> None:
    url = f"http://{args.host}:{args.port}"
    app.config["LISTEN_HOST"] = args.host
    if args.debug and args.host not in ("127.0.0.1", "localhost", "::1"):
        # Werkzeug's debugger runs any code typed into an error page.
        raise InputError(Problem("", None, None, "--debug", f"the debug server runs only on "
                                 f"this computer, not on {args.host}",
                                 "leave out --host, or leave out --debug"))
    if args.debug:
        print(f"tpn (debug server, not for a workshop) on {url}")
        app.run(host=args.host, port=args.port, debug=True, use_reloader=False)
        return
    from waitress import serve

    print(f"tpn on {url} — stop with Ctrl+C", flush=True)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="tpn")


def cmd_serve(args) -> int:
    _serve(_app(args), args)
    return 0


def cmd_demo(args) -> int:
    from . import services

    app = _app(args)
    info = services.demo(app.extensions["tpn_db"])
    s = info["summary"]
    print(f"sample network '{info['network']}': run {info['run']} has {s['matched']} pairs "
          f"and {s['unmatched']} requests without a mentor (of {s['requests']})")
    print(f"open http://{args.host}:{args.port} and sign in as {info['username']} with "
          f"password {info['password']}")
    if not args.no_serve:
        _serve(app, args)
    return 0


def cmd_user_add(args) -> int:
    import getpass

    from . import services

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise InputError(Problem("", None, None, "password", "the two passwords differ",
                                     "type the same password twice"))
    services.add_user(_db(args), args.username, password, args.role)
    print(f"user {args.username} added ({args.role})")
    return 0


def cmd_user_list(args) -> int:
    from . import services

    for u in services.users(_db(args)):
        where = ("; ".join(f"{role} of {net}" for net, role in u.networks) if u.networks
                 else f"{u.role}, every network")
        print(f"{u.username:<20} {where}")
    return 0


def cmd_user_give(args) -> int:
    from . import services

    found = services.give_network(_db(args), args.username, args.network, args.role)
    print(f"{found.username} works on: "
          + ", ".join(f"{net} ({role})" for net, role in found.networks))
    return 0


def cmd_user_take(args) -> int:
    from . import services

    found = services.give_network(_db(args), args.username, args.network, None)
    print(f"{found.username} works on: "
          + (", ".join(f"{net} ({role})" for net, role in found.networks)
             or f"every network, as {found.role}"))
    return 0




def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    from .runtime.parallel import workers

    try:
        if args.workers < 1:
            raise InputError(Problem("", None, None, "--workers", f"{args.workers} is not a "
                                     "number of processes", "give 1 or 2"))
        with workers(args.workers):
            return args.run(args)
    except InputError as exc:
        print(exc.report(), file=sys.stderr)
        return exc.exit_code
    except TpnError as exc:
        print(f"tpn: {exc}", file=sys.stderr)
        return exc.exit_code
    except TpnBug as exc:
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(f"tpn {__version__}: {exc}, with the lines above and the command you ran",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tpn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a reader that stopped (tpn check … | head): end quietly.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
