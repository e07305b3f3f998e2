"""DHIS2 analytics exports: the JSON response of ``/api/analytics`` and its CSV export.

Mapping (all in :class:`Dhis2Mapping`, all on ``tpn convert``'s command line):

- data items (``dx``) become topics; periods (``pe``) become snapshots; organisation units
  (``ou``) become institutions;
- ``region_level``: the hierarchy level (1 = the root, e.g. the country) whose unit names
  the region, read from ``metaData.ouHierarchy`` (JSON) or from an organisation-unit file;
- kind: from ``kind_level`` (the unit at that level names the kind), or ``kind_pattern``
  (a regular expression on the unit's name, e.g. the facility-type suffix
  ``(Hospital|CHC|CHP|MCHP|Clinic)$``), else ``kind_default``;
- ``derive``: indicators computed from data items, written ``id=formula`` or
  ``id:Name=formula`` with DHIS2's ``#{uid}`` syntax, e.g.
  ``anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100``. A division by zero
  gives no score. With ``derive`` given, only the derived indicators become topics unless
  ``keep_items`` is set;
- ``directions``: topic id -> ``higher``/``lower`` (default higher);
- ``org_units``: an ``/api/organisationUnits.json?fields=id,name[,path,geometry,
  organisationUnitGroups[id,name,groupSets[id]]]`` file for names (and paths, when the
  export has no hierarchy); a unit's ``geometry`` gives its coordinates (a Point as it is,
  a Polygon or MultiPolygon by its centroid, said in the ``location`` attribute);
- ``kind_groupset``: the uid of an organisation unit group set (the usual way DHIS2 says
  "hospital" or "health centre"): a unit's kind is the name of its group in that set.

Values for several category option combinations of one (item, period, unit) are summed.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..i18n import _
from ..models import Institution, Network, Snapshot, Topic, period_key
from .limits import ReadLimits
from .tables import read_csv_table
from .workbook import parse_number

_CSV_COLUMNS = {
    "dx": ("dx", "data", "data_item", "dataelement", "data_element"),
    "pe": ("pe", "period"),
    "ou": ("ou", "organisation_unit", "organization_unit", "orgunit", "org_unit"),
    "value": ("value",),
}
_UID_REF = re.compile(r"#\{([^}.]+)(?:\.[^}]*)?\}")


@dataclass(frozen=True)
class Dhis2Mapping:
    region_level: int = 2
    kind_level: int | None = None
    kind_pattern: str | None = None
    kind_default: str = "facility"
    derive: tuple[str, ...] = ()
    keep_items: bool = False
    directions: dict = field(default_factory=dict, hash=False)
    org_units: str | None = None
    kind_groupset: str | None = None
    ranges: dict = field(default_factory=dict, hash=False)   # topic id -> (min, max)

    def __post_init__(self):
        problems = []
        if self.kind_pattern is not None:
            try:
                re.compile(self.kind_pattern)
            except re.error as exc:
                problems.append(Problem("", None, None, "kind_pattern",
                                        _("{kind_pattern!r} is not a regular expression ({exc})",
                                          kind_pattern=self.kind_pattern, exc=exc),
                                        _("write a pattern such as 'hospital|centre', or leave it "
                                          "empty")))
        for name in ("region_level", "kind_level"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 20:
                problems.append(Problem("", None, None, name,
                                        _("{value} is not a level of the organisation unit tree",
                                          value=value),
                                        _("give a level from 1 (the country) down, e.g. 2 for "
                                          "districts")))
        if problems:
            raise InputError(problems)


@dataclass(frozen=True)
class Derived:
    id: str
    name: str
    formula: str
    expression: ast.Expression
    items: tuple[str, ...]


def parse_derived(text: str) -> Derived:
    """``id[:Name]=formula`` with ``#{uid}`` references and + - * / ( ) and numbers.

    >>> d = parse_derived("anc_retention:ANC retention=#{cYeuwXTCPkU}/#{fbfJHSPpUQD}*100")
    >>> d.id, d.name, d.items
    ('anc_retention', 'ANC retention', ('cYeuwXTCPkU', 'fbfJHSPpUQD'))
    """
    head, sep, formula = text.partition("=")
    ident, _colon, name = head.partition(":")
    ident = ident.strip()
    if not sep or not ident or not formula.strip():
        raise ValueError(_("{text!r}: write a derived indicator as id=formula, e.g. "
                           "anc_retention=#{{uid1}}/#{{uid2}}", text=text))
    items: list[str] = []

    def name_for(match: re.Match) -> str:
        uid = match.group(1).strip()
        if uid not in items:
            items.append(uid)
        return f"v{items.index(uid)}"

    python = _UID_REF.sub(name_for, formula)
    try:
        tree = ast.parse(python.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(_("{strip!r} is not a formula tpn can read",
                           strip=formula.strip())) from None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load,
                                 ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub,
                                 ast.UAdd)):
            raise ValueError(_("{strip!r}: only #{{uid}}, numbers, + - * / and brackets are "
                               "allowed", strip=formula.strip()))
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ValueError(_("{strip!r}: {value!r} is not a number", strip=formula.strip(),
                               value=node.value))
        if isinstance(node, ast.Name) and not re.fullmatch(r"v\d+", node.id):
            raise ValueError(_("{strip!r}: {id!r} is not a #{{uid}} reference",
                               strip=formula.strip(), id=node.id))
    if not items:
        raise ValueError(_("{strip!r} names no data item (write #{{uid}})", strip=formula.strip()))
    return Derived(ident, name.strip() or ident, formula.strip(), tree, tuple(items))


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv}


def _evaluate(node, columns: list[pd.Series]):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, columns)
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](_evaluate(node.left, columns), _evaluate(node.right, columns))
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, columns)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name):
        return columns[int(node.id[1:])]
    return float(node.value)


def read_dhis2(path: Path | str, mapping: Dhis2Mapping) -> Network:
    """A network from a DHIS2 analytics export (.json response or .csv)."""
    path = Path(path)
    try:
        derived = [parse_derived(d) for d in mapping.derive]
    except ValueError as exc:
        raise InputError(Problem("", None, None, "--derive", str(exc),
                                 _("see tpn convert --help"))) from None
    units = _org_unit_file(mapping.org_units)
    if mapping.kind_groupset and not mapping.org_units:
        raise InputError(Problem("", None, None, "--kind-groupset",
                                 _("a group set needs the organisation units' groups"),
                                 _("give --org-units with a file that has "
                                   "organisationUnitGroups")))
    if path.suffix.lower() == ".json":
        values, meta_names, hierarchy = _read_json(path)
    else:
        values, meta_names, hierarchy = _read_csv(path)
    names = {**meta_names, **{k: v for k, v in units.names.items() if k not in meta_names}}
    hierarchy = {**units.paths, **hierarchy}
    return _network(values, names, hierarchy, derived, mapping, path.name, units)


@dataclass(frozen=True)
class OrgUnits:
    """What an organisation-units file says of each unit: name, ancestors' path, location
    ((latitude, longitude, how found)) and groups ((group name, its group sets' uids))."""

    names: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)


def _org_unit_file(file: str | None) -> OrgUnits:
    if not file:
        return OrgUnits()
    data = _load_json(Path(file))
    units = data.get("organisationUnits") if isinstance(data, dict) else None
    if not isinstance(units, list):
        raise InputError(Problem(Path(file).name, None, None, None,
                                 _("not an organisationUnits response (no organisationUnits "
                                   "list)"),
                                 _("export "
                                   "/api/organisationUnits.json?fields=id,name,path&paging=false")))
    # Group sets may also come as a list of their own, naming their groups.
    set_of: dict[str, set[str]] = {}
    for group_set in data.get("organisationUnitGroupSets") or []:
        if isinstance(group_set, dict):
            for group in group_set.get("organisationUnitGroups") or []:
                if isinstance(group, dict) and isinstance(group.get("id"), str):
                    set_of.setdefault(group["id"], set()).add(str(group_set.get("id")))
    out = OrgUnits()
    for unit in units:
        if isinstance(unit, dict) and isinstance(unit.get("id"), str):
            uid = unit["id"]
            out.names[uid] = str(unit.get("name", uid))
            if isinstance(unit.get("path"), str):
                # DHIS2 paths are "/root/…/unit": keep the ancestors, as ouHierarchy does.
                parts = [p for p in unit["path"].split("/") if p]
                out.paths[uid] = "/".join(parts[:-1])
            place = _location(unit.get("geometry"))
            if place is not None:
                out.places[uid] = place
            out.groups[uid] = [
                (str(g.get("name", g.get("id"))),
                 {str(s.get("id")) for s in g.get("groupSets") or [] if isinstance(s, dict)}
                 | set_of.get(str(g.get("id")), set()))
                for g in unit.get("organisationUnitGroups") or [] if isinstance(g, dict)]
    return out


def _location(geometry) -> tuple[float, float, str] | None:
    """(latitude, longitude, how) of a GeoJSON geometry: a Point as it is, a Polygon or
    MultiPolygon by the centroid of its area.

    >>> _location({"type": "Point", "coordinates": [-13.2, 8.48]})
    (8.48, -13.2, 'point')
    >>> _location({"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]})
    (1.0, 1.0, 'polygon centroid')
    """
    if not isinstance(geometry, dict):
        return None
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    try:
        if kind == "Point":
            lon, lat = float(coords[0]), float(coords[1])
            return (lat, lon, "point") if -90 <= lat <= 90 and -180 <= lon <= 180 else None
        polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
        area = cx = cy = 0.0
        for polygon in polygons:
            ring = [(float(x), float(y)) for x, y, *_ in polygon[0]]
            for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
                cross = x0 * y1 - x1 * y0
                area += cross
                cx += (x0 + x1) * cross
                cy += (y0 + y1) * cross
    except (TypeError, ValueError, IndexError):
        return None
    if not area:
        return None
    lon, lat = cx / (3 * area), cy / (3 * area)
    return round(lat, 6), round(lon, 6), "polygon centroid"


def _load_json(path: Path):
    ReadLimits.from_environ().check_file(path, path.name)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise InputError(Problem(str(path), None, None, None,
                                 _("cannot read the file: {strerror}", strerror=exc.strerror),
                                 _("check the path"))) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(Problem(path.name, None, getattr(exc, "lineno", None), None,
                                 _("the file is not valid JSON at line {line}", line=exc.lineno)
                                 if isinstance(exc, json.JSONDecodeError) else
                                 _("the file is not valid JSON"),
                                 _("export it again from DHIS2 (analytics.json)"))) from None


def _read_json(path: Path):
    data = _load_json(path)
    name = path.name
    if not isinstance(data, dict) or not isinstance(data.get("headers"), list) \
            or not isinstance(data.get("rows"), list):
        raise InputError(Problem(name, None, None, None,
                                 _("not a DHIS2 analytics response (it needs headers and rows)"),
                                 _("export /api/analytics.json with dimensions dx, pe and ou")))
    headers = [h.get("name") if isinstance(h, dict) else None for h in data["headers"]]
    problems = [Problem(name, None, None, col, _("the analytics response has no {col} column",
                                                 col=col),
                        _("request the analytics with dimension={col}:…", col=col))
                for col in ("dx", "pe", "ou", "value") if col not in headers]
    if problems:
        raise InputError(problems)
    idx = {col: headers.index(col) for col in ("dx", "pe", "ou", "value")}
    records = []
    for k, row in enumerate(data["rows"], start=1):
        if not isinstance(row, list) or len(row) < len(headers):
            problems.append(Problem(name, "rows", k, None,
                                    _("the row has fewer cells than headers"),
                                    _("export the data again")))
            continue
        records.append((k, *(str(row[idx[c]]) if row[idx[c]] is not None else ""
                             for c in ("dx", "pe", "ou", "value"))))
    meta = data.get("metaData") if isinstance(data.get("metaData"), dict) else {}
    items = meta.get("items") if isinstance(meta.get("items"), dict) else {}
    names = {str(k): str(v.get("name", k)) for k, v in items.items() if isinstance(v, dict)}
    hierarchy = meta.get("ouHierarchy") if isinstance(meta.get("ouHierarchy"), dict) else {}
    hierarchy = {str(k): str(v) for k, v in hierarchy.items()}
    return _values(records, name, "rows", problems), names, hierarchy


def _read_csv(path: Path):
    table = read_csv_table(path)
    columns = table.columns
    found = {}
    problems = []
    for key, aliases in _CSV_COLUMNS.items():
        hit = next((c for c in aliases if c in columns), None)
        if hit is None:
            problems.append(Problem(table.file, None, 1, key,
                                    _("the DHIS2 column {key} is missing (also accepted: {join})",
                                      key=key, join=', '.join(aliases[1:])),
                                    _("export analytics as CSV with data, period and organisation "
                                      "unit columns")))
        found[key] = hit
    if problems:
        raise InputError(problems)
    names: dict[str, str] = {}
    hierarchy: dict[str, str] = {}
    records = []
    for row, rec in table.records():
        records.append((row, rec[found["dx"]], rec[found["pe"]], rec[found["ou"]],
                        rec[found["value"]]))
        for key, name_col in (("dx", "dxname"), ("ou", "ouname"), ("pe", "pename")):
            if rec.get(name_col):
                names[rec[found[key]]] = rec[name_col]
        if rec.get("ouhierarchy"):
            hierarchy[rec[found["ou"]]] = rec["ouhierarchy"]
    return _values(records, table.file, None, problems, decimal_comma=table.decimal_comma), \
        names, hierarchy


def _values(records, file: str, sheet: str | None, problems: list[Problem],
            decimal_comma: bool = False) -> pd.DataFrame:
    rows = []
    for k, dx, pe, ou, text in records:
        for col, v in (("dx", dx), ("pe", pe), ("ou", ou)):
            if not v:
                problems.append(Problem(file, sheet, k, col, _("the {col} cell is empty", col=col),
                                        _("export the data again")))
        if not text.strip():
            continue
        try:
            value = parse_number(text, decimal_comma)
        except ValueError as exc:
            problems.append(Problem(file, sheet, k, "value", str(exc),
                                    _("DHIS2 values must be numbers; fix or remove the row")))
            continue
        if dx and pe and ou:
            rows.append((dx, pe, ou, value))
    if problems:
        raise InputError(problems)
    if not rows:
        raise InputError(Problem(file, sheet, None, None, _("the export holds no values"),
                                 _("check the analytics request's dimensions and periods")))
    frame = pd.DataFrame(rows, columns=["dx", "pe", "ou", "value"])
    return frame.groupby(["dx", "pe", "ou"], as_index=False, sort=True)["value"].sum()


def _network(values: pd.DataFrame, names: dict[str, str], hierarchy: dict[str, str],
             derived: list[Derived], mapping: Dhis2Mapping, file: str,
             units: OrgUnits = OrgUnits()) -> Network:
    problems = []
    present = set(values["dx"])
    for d in derived:
        for uid in d.items:
            if uid not in present:
                problems.append(Problem(file, None, None, "dx",
                                        _("{id} uses #{{{uid}}}, which is not in the export",
                                          id=d.id, uid=uid),
                                        _("add dimension dx:{uid} to the request, or fix the "
                                          "formula", uid=uid)))
    for topic_id, direction in mapping.directions.items():
        if direction not in ("higher", "lower"):
            problems.append(Problem("", None, None, "--direction",
                                    _("{topic_id}={direction}: write higher or lower",
                                      topic_id=topic_id, direction=direction), ""))
    known = {d.id for d in derived} | (present if not derived or mapping.keep_items else set())
    problems += unknown_topics(mapping.ranges, known, "--range")
    if problems:
        raise InputError(problems)

    wide = values.pivot_table(index=["ou", "pe"], columns="dx", values="value", aggfunc="sum")
    topic_frames: list[tuple[Topic, pd.Series]] = []
    for d in derived:
        with np.errstate(divide="ignore", invalid="ignore"):
            series = _evaluate(d.expression, [wide[uid] for uid in d.items])
        series = series.replace([np.inf, -np.inf], np.nan).dropna()
        topic_frames.append((Topic(d.id, d.name, mapping.directions.get(d.id, "higher")),
                             series))
    if not derived or mapping.keep_items:
        for uid in sorted(present):
            topic_frames.append((Topic(uid, names.get(uid, uid),
                                       mapping.directions.get(uid, "higher")),
                                 wide[uid].dropna()))

    institutions = tuple(_institution(ou, names, hierarchy, mapping, units)
                         for ou in sorted(set(values["ou"])))
    by_period: dict[str, dict[tuple[str, str], float]] = {}
    for topic, series in topic_frames:
        for (ou, pe), v in series.items():
            by_period.setdefault(str(pe), {})[(str(ou), topic.id)] = round(float(v), 10)
    snapshots = tuple(Snapshot(p, by_period[p]) for p in sorted(by_period, key=period_key))
    return with_ranges(Network(institutions, tuple(t for t, _ in topic_frames), snapshots, ()),
                       mapping.ranges)


def parse_range(text: str) -> tuple[str, tuple[float | None, float | None]]:
    """``ID=MIN:MAX`` (either side may be empty) as (topic id, (min, max)).

    >>> parse_range("anc_retention=0:100"), parse_range("stockout=0:")
    (('anc_retention', (0.0, 100.0)), ('stockout', (0.0, None)))
    """
    ident, sep, bounds = text.partition("=")
    low, colon, high = bounds.partition(":")
    if not sep or not colon or not ident.strip():
        raise ValueError(_("{text!r}: write a plausible range as ID=MIN:MAX, e.g. "
                           "anc_retention=0:100 (either side may be empty)", text=text))
    try:
        values = tuple(None if not v.strip() else parse_number(v) for v in (low, high))
    except ValueError as exc:
        raise ValueError(_("{text!r}: {problem}", text=text, problem=exc.args[0])) from None
    if values[0] is not None and values[1] is not None and values[0] > values[1]:
        raise ValueError(_("{text!r}: the minimum is above the maximum", text=text))
    return ident.strip(), values


def unknown_topics(ranges: dict, known: set[str], flag: str) -> list[Problem]:
    return [Problem("", None, None, flag, _("{topic_id!r} is not a topic of this export",
                                            topic_id=topic_id),
                    _("use one of {join}",
                      join=', '.join(sorted(known)))) for topic_id in sorted(ranges)
            if topic_id not in known]


def with_ranges(network: Network, ranges: dict) -> Network:
    """The network with these topics' plausible ranges set (``--range``)."""
    if not ranges:
        return network
    return dataclasses.replace(network, topics=tuple(
        dataclasses.replace(t, minimum=ranges[t.id][0], maximum=ranges[t.id][1])
        if t.id in ranges else t for t in network.topics))


def _institution(ou: str, names: dict[str, str], hierarchy: dict[str, str],
                 mapping: Dhis2Mapping, units: OrgUnits = OrgUnits()) -> Institution:
    name = names.get(ou, ou)
    ancestors = [p for p in hierarchy.get(ou, "").split("/") if p]
    region = None
    if mapping.region_level and len(ancestors) >= mapping.region_level:
        uid = ancestors[mapping.region_level - 1]
        region = names.get(uid, uid)
    kind = mapping.kind_default
    if mapping.kind_level and len(ancestors) >= mapping.kind_level:
        uid = ancestors[mapping.kind_level - 1]
        kind = names.get(uid, uid)
    elif mapping.kind_pattern:
        kind = kind_from_name(name, mapping.kind_pattern) or mapping.kind_default
    if mapping.kind_groupset:
        kind = next((group for group, sets in units.groups.get(ou, [])
                     if mapping.kind_groupset in sets), mapping.kind_default)
    lat, lon, how = units.places.get(ou, (None, None, ""))
    return Institution(ou, name, kind, region, lat, lon,
                       attributes={"location": how} if how == "polygon centroid" else {})


def kind_from_name(name: str, pattern: str) -> str | None:
    """The kind a name pattern finds, spelled as in the pattern when it lists the word.

    >>> kind_from_name("Bucksal clinic", r"(Hospital|CHC|CHP|MCHP|Clinic)$")
    'Clinic'
    >>> kind_from_name("Gbaiima CHC", r"(Hospital|CHC|CHP|MCHP|Clinic)$")
    'CHC'
    """
    match = re.search(pattern, name, flags=re.IGNORECASE)
    if not match:
        return None
    found = (match.group(1) if match.groups() else match.group(0)).strip()
    for word in re.findall(r"[A-Za-z][A-Za-z0-9 ]*", pattern):
        if word.casefold() == found.casefold():
            return word
    return found
