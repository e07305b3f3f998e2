"""The ``tpn`` command: argument parsing and printing only; the work is done elsewhere.

Exit codes: 0 done (unmatched requests are a normal outcome), 2 bad input (the report
lists every problem), 3 not found, 4 the rules cannot all hold, 1 any other tpn error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from time import perf_counter
from typing import Sequence

from . import __version__
from .errors import InputError, Problem, TpnError
from .matching.options import MatchOptions, parse_value

DESCRIPTION = """\
tpn pairs each health institution that needs help on a topic with a high-performing
peer of the same kind on that topic, and explains every pair and every request it
could not serve."""


def _option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_match_options(parser: argparse.ArgumentParser) -> None:
    """Every MatchOption as a flag, with its default and help (one registry)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    titles = {"rules": "eligibility rules", "capacity": "capacity", "cost": "cost weights",
              "solver": "solver", "output": "explanations"}
    for f in MatchOptions.fields():
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpn", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tpn {__version__}")
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
    d.add_argument("--org-units", metavar="FILE", default=None,
                   help="organisationUnits.json with names (and paths) (default: none)")
    p.set_defaults(run=cmd_convert)

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
    s = fsub.add_parser("suggest", help="write each institution's suggested focus topics",
                        description="Rank each institution's topics by how far it is below "
                                    "the high-performer benchmark of its kind; write a focus "
                                    "sheet a facilitator can edit.")
    s.add_argument("data")
    s.add_argument("--per-institution", type=int, default=2,
                   help="topics per institution (default: 2)")
    s.add_argument("--period", help="score period (default: the latest)")
    s.add_argument("--out", default="focus.csv", help="the focus file to write "
                                                      "(default: focus.csv)")
    add_match_options(s)
    s.set_defaults(run=cmd_focus_suggest)
    return parser


# --- commands ---------------------------------------------------------------------------


def cmd_match(args) -> int:
    from .matching import solve
    from .matching.focus import suggest_focus
    from .models import MatchProblem
    from .results import (PAIR_COLUMNS, REJECTED_LOCK_COLUMNS, UNMATCHED_COLUMNS,
                          explain_text, pair_rows, rejected_lock_rows, summary,
                          unmatched_rows)
    from .tabular import read_network, write_csv
    from .tabular.pairs import read_exclusions, read_locks, read_previous

    started = perf_counter()
    options = options_from_args(args)
    network = read_network(args.data)
    snapshot = network.snapshot(args.period)
    focus = network.focus
    if not focus and args.auto_focus:
        focus = tuple(s.as_request() for s in suggest_focus(network, snapshot, options,
                                                            args.auto_focus))
    if not focus:
        raise InputError(Problem(args.data, "focus", None, None, "there are no focus topics",
                                 "add a focus sheet, or use --auto-focus N"))
    problem = MatchProblem(
        institutions=network.institutions, topics=network.topics, snapshot=snapshot,
        requests=tuple(focus),
        locks=read_locks(args.lock, network) if args.lock else (),
        exclusions=read_exclusions(args.exclude, network) if args.exclude else (),
        previous=read_previous(args.previous, network) if args.previous else (),
    )
    from .progress import TerminalProgress

    progress = TerminalProgress()
    if args.json:
        progress.enabled = False
    result = solve(problem, options, progress)
    progress.done()
    out = Path(args.out)
    write_csv(out / "pairs.csv", PAIR_COLUMNS, pair_rows(result, network))
    write_csv(out / "unmatched.csv", UNMATCHED_COLUMNS, unmatched_rows(result, network))
    if problem.locks:
        write_csv(out / "rejected_locks.csv", REJECTED_LOCK_COLUMNS, rejected_lock_rows(result))
    if args.explain:
        sys.stdout.write(explain_text(result, network))
    if args.json:
        print(json.dumps(summary(result, network, perf_counter() - started), sort_keys=True))
    elif not args.explain:
        print(f"{len(result.pairs)} pairs, {len(result.unmatched)} unmatched requests "
              f"(period {snapshot.period}); wrote {out / 'pairs.csv'} and "
              f"{out / 'unmatched.csv'}")
    return 0


def cmd_convert(args) -> int:
    from .tabular import Dhis2Mapping, read_dhis2, read_network, write_network

    src = Path(args.input)
    if src.suffix.lower() in (".json", ".csv") and src.is_file():
        directions = {}
        for item in args.direction:
            key, _, value = item.partition("=")
            directions[key.strip()] = value.strip()
        mapping = Dhis2Mapping(region_level=args.region_level, kind_level=args.kind_level,
                               kind_pattern=args.kind_pattern, kind_default=args.kind_default,
                               derive=tuple(args.derive), keep_items=args.keep_items,
                               directions=directions, org_units=args.org_units)
        network = read_dhis2(src, mapping)
    else:
        network = read_network(src)
    path = write_network(network, args.out)
    regions = {i.region for i in network.institutions if i.region}
    print(f"wrote {path}: {len(network.institutions)} institutions in {len(regions)} regions, "
          f"{len(network.topics)} topics, periods {', '.join(network.periods) or 'none'}")
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

    network = read_network(args.data)
    suggestions = suggest_focus(network, network.snapshot(args.period), options_from_args(args),
                                args.per_institution)
    header = ["institution_id", "topic_id", "priority", "score", "percentile", "benchmark",
              "percentile_gap", "mentors_available"]
    rows = [[s.institution_id, s.topic_id, str(s.rank), f"{s.score:g}", f"{s.percentile:.1f}",
             f"{s.benchmark:g}", f"{s.percentile_gap:.1f}", str(s.mentors_available)]
            for s in suggestions]
    write_csv(Path(args.out), header, rows)
    nobody = sum(1 for s in suggestions if s.mentors_available == 0)
    print(f"wrote {args.out}: {len(rows)} suggested focus topics"
          + (f"; {nobody} have no possible mentor (mentors_available 0)" if nobody else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except InputError as exc:
        print(exc.report(), file=sys.stderr)
        return exc.exit_code
    except TpnError as exc:
        print(f"tpn: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tpn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
