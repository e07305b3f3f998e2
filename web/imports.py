"""Import: upload a workbook, a zip of CSV files or a DHIS2 export; preview it; map columns
whose headers differ; confirm. Nothing reaches the database before the confirmation, and
then all of it or nothing (``services.import_file``).

An upload waits in the instance folder under a random token, readable only by the account
that sent it, and is deleted once imported or cancelled (or after a day).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
import zipfile
from pathlib import Path

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request,
                   url_for)
from flask_babel import gettext
from markupsafe import Markup
from werkzeug.utils import secure_filename

from tpn import services
from tpn.errors import InputError, Problem
from tpn.i18n import _, join, say
from tpn.tabular.dhis2 import Dhis2Mapping, read_dhis2
from tpn.tabular.limits import ReadLimits
from tpn.tabular.scores import is_scores_only
from tpn.tabular.tables import is_text
from tpn.tabular.workbook import (INSTITUTION_COLUMNS, REQUIRED, TOPIC_COLUMNS, read_network,
                                  read_tables)

from . import db, jobs
from .auth import role_required
from .languages import flash

bp = Blueprint("imports", __name__)

KINDS = {".xlsx": "workbook", ".xlsm": "workbook", ".zip": "csv-folder", ".json": "dhis2",
         ".csv": "dhis2"}
ZIP_MAGIC = b"PK\x03\x04"
MAX_UNZIPPED = 200 * 1024 * 1024
STALE_SECONDS = 24 * 3600
# Columns a mapping may name, per sheet (the scores sheet's other headers are topic ids).
MAPPABLE = {"institutions": INSTITUTION_COLUMNS, "topics": TOPIC_COLUMNS,
            "scores": ("institution_id", "topic_id", "period", "value"),
            "focus": ("institution_id", "topic_id", "priority")}


def init_app(app) -> None:
    app.register_blueprint(bp)


def _folder(token: str) -> Path:
    if not token.replace("-", "").replace("_", "").isalnum():
        abort(404)
    return current_app.extensions["tpn_uploads"] / token


def _problem(message: str, fix: str, name: str = "") -> InputError:
    return InputError(Problem(name, None, None, None, message, fix))


@bp.route("/networks/<name>/import", methods=["GET", "POST"])
@role_required("facilitator")
def upload(name: str):
    if request.method == "GET":
        return render_template("import.html", net=name, period="", dhis2=Dhis2Mapping())
    file = request.files.get("file")
    if file is None or not file.filename:
        raise _problem(_("no file was chosen"), _("choose a workbook, zip or DHIS2 export"))
    filename = secure_filename(file.filename) or "upload"
    suffix = Path(filename).suffix.lower()
    if suffix not in KINDS:
        raise _problem(_("tpn does not read {suffix} files", suffix=suffix) if suffix else
                       _("tpn does not read files without an extension"),
                       _("upload a .xlsx workbook, a .zip of CSV files, or a DHIS2 .json/.csv "
                         "export"), filename)
    data = file.read()
    _check_content(data, suffix, filename)
    _remove_stale()
    token = secrets.token_urlsafe(16)
    folder = _folder(token)
    folder.parent.mkdir(mode=0o700, exist_ok=True)
    folder.mkdir(mode=0o700)
    _write_private(folder / filename, data)
    if suffix in (".xlsx", ".xlsm", ".zip"):
        try:        # a zip bomb is refused from its directory, before a byte is unpacked
            ReadLimits.from_environ().check_workbook(folder / filename, filename)
        except InputError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    if suffix == ".zip":
        _unzip(folder / filename, folder / "csv")
    meta = {"network": name, "file": filename, "kind": KINDS[suffix],
            "owner": g.user["username"], "period": request.form.get("period", "").strip(),
            "dhis2": _dhis2_form(request.form)}
    _write_private(folder / "upload.json", json.dumps(meta).encode())
    return redirect(url_for("imports.preview", name=name, token=token))


def _check_content(data: bytes, suffix: str, filename: str) -> None:
    """The bytes must be what the extension says (a renamed file gets a clear message)."""
    if not data:
        raise _problem(_("the file is empty"), _("choose the file again"), filename)
    if suffix in (".xlsx", ".xlsm", ".zip") and not data.startswith(ZIP_MAGIC):
        raise _problem(_("this is not a {suffix} file (its content is something else)",
                         suffix=suffix),
                       _("save it again as an Excel workbook (.xlsx) or zip, and upload that"),
                       filename)
    if suffix in (".json", ".csv") and not is_text(data[:65536]):
        raise _problem(_("this is not a text {suffix} file (it contains binary data)",
                         suffix=suffix),
                       _("export it again from DHIS2 as JSON or CSV"), filename)


def _unzip(archive: Path, target: Path) -> None:
    """Only the CSV files of the zip, by their own names, never a path from the archive."""
    target.mkdir(mode=0o700)
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist()
                       if not m.is_dir() and m.filename.lower().endswith(".csv")]
            if sum(m.file_size for m in members) > MAX_UNZIPPED:
                raise _problem(_("the zip unpacks to more than 200 MB"),
                               _("upload fewer periods at a time"), archive.name)
            for m in members:
                name = secure_filename(Path(m.filename).name)
                if name:
                    _write_private(target / name, z.read(m))
    except zipfile.BadZipFile:
        shutil.rmtree(archive.parent, ignore_errors=True)
        raise _problem(_("the zip file is damaged"), _("make the zip again"),
                       archive.name) from None
    except InputError:
        shutil.rmtree(archive.parent, ignore_errors=True)
        raise


def _write_private(path: Path, data: bytes) -> None:
    """An upload is readable by the server's own account only (it may hold contacts)."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)


def _remove_stale() -> None:
    root = current_app.extensions["tpn_uploads"]
    if root.exists():
        for folder in root.iterdir():
            if time.time() - folder.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)


def _dhis2_form(form) -> dict:
    def number(key, default):
        text = form.get(key, "").strip()
        if not text:
            return default
        if not (text.isascii() and text.isdecimal()):
            raise _problem(_("{key}: {text!r} is not a whole number", key=key, text=text),
                           _("give a level as a number, e.g. 2 for districts"))
        return int(text)

    return {"region_level": number("region_level", 2),
            "kind_level": number("kind_level", None),
            "kind_pattern": form.get("kind_pattern", "").strip() or None,
            "kind_default": form.get("kind_default", "").strip() or "facility",
            "derive": [d.strip() for d in form.get("derive", "").splitlines() if d.strip()]}


def _load(name: str, token: str) -> tuple[Path, dict]:
    folder = _folder(token)
    meta_file = folder / "upload.json"
    if not meta_file.exists():
        flash(_("That upload is gone (imported, cancelled or older than a day). Upload "
                "the file again."), "warning")
        abort(redirect(url_for("imports.upload", name=name)))
    meta = json.loads(meta_file.read_text())
    if meta["network"] != name or meta["owner"] != g.user["username"]:
        abort(404)
    return folder, meta


def _mapping(tables, args) -> dict[str, dict[str, str]]:
    """{sheet: {header as written: tpn column}} from the form's col-<sheet>-<column> fields."""
    out: dict[str, dict[str, str]] = {}
    for sheet, table in tables.items():
        for column in MAPPABLE.get(sheet, ()):
            header = args.get(f"col-{sheet}-{column}", "")
            if header and header in table.headers:
                out.setdefault(sheet, {})[header] = column
    return out


def _read(database, folder: Path, meta: dict, fields):
    """(network or None, problems, tables, mapping) for an upload, read with the mapping."""
    path = folder / ("csv" if meta["kind"] == "csv-folder" else meta["file"])
    if is_scores_only(path):        # new scores for the network's institutions and topics
        try:
            return (services.read_for_import(database, path, meta["network"],
                                             meta["period"] or None), [], {}, {})
        except InputError as exc:
            return None, exc.problems, {}, {}
    if meta["kind"] == "dhis2":
        options = meta["dhis2"]
        mapping = Dhis2Mapping(region_level=options["region_level"],
                               kind_level=options["kind_level"],
                               kind_pattern=options["kind_pattern"],
                               kind_default=options["kind_default"],
                               derive=tuple(options["derive"]))
        try:
            return read_dhis2(path, mapping), [], {}, {}
        except InputError as exc:
            return None, exc.problems, {}, {}
    try:
        tables = read_tables(path)
    except InputError as exc:
        return None, exc.problems, {}, {}
    mapping = _mapping(tables, fields)
    try:
        network = read_network(path, meta["period"] or "current", columns=mapping)
        return network, [], tables, mapping
    except InputError as exc:
        return None, exc.problems, tables, mapping


def _preview(database, folder: Path, meta: dict, fields) -> dict:
    """What the preview page shows of an upload, as plain data (a job writes it to a file)."""
    network, problems, tables, mapping = _read(database, folder, meta, fields)
    summary = None
    clash: list[str] = []
    if network is not None:
        summary = {
            "institutions": len(network.institutions),
            "kinds": sorted({i.kind for i in network.institutions}),
            "topics": [t.label for t in network.topics],
            "periods": list(network.periods),
            "focus": len(network.focus),
            "first": [{"id": i.id, "name": i.name, "kind": i.kind, "region": i.region,
                       "size": i.size} for i in network.institutions[:10]]}
        existing = services.overview(database, meta["network"])
        clash = sorted(set(existing["periods"]) & set(network.periods))
    return {"network": summary, "problems": [p.as_dict() for p in problems],
            "mapping_rows": _mapping_rows(tables, mapping), "mapping": mapping, "clash": clash}


def _columns(fields) -> dict[str, str]:
    """The form's column mapping fields alone (what a job needs of a request)."""
    return {k: v for k, v in fields.items() if k.startswith("col-")}


def _preview_file(folder: Path, fields) -> Path:
    key = hashlib.sha256(json.dumps(_columns(fields), sort_keys=True).encode()).hexdigest()
    return folder / f"preview-{key[:16]}.json"


def _is_large(folder: Path, meta: dict) -> bool:
    return (folder / meta["file"]).stat().st_size >= current_app.config["JOB_UPLOAD_BYTES"]


def read_upload(database, folder: str, meta: dict, fields: dict, progress=None) -> dict:
    """The job that reads a large upload for its preview."""
    if progress:
        progress(_("reading and checking {file}", file=meta['file']), None)
    preview = _preview(database, Path(folder), meta, fields)
    _write_private(_preview_file(Path(folder), fields), json.dumps(preview).encode())
    return preview


def import_upload(database, folder: str, meta: dict, fields: dict, replace: bool, author: str,
                  progress=None):
    """Read an upload again (with its mapping) and import it, all or nothing."""
    if progress:
        progress(_("reading {file}", file=meta['file']), None)
    network, problems, _tables, _mapping = _read(database, Path(folder), meta, fields)
    if network is None:
        raise InputError(problems)
    if progress:
        progress(_("saving {n:,} institutions", n=len(network.institutions)), None)
    info = services.import_file(database, Path(folder) / meta["file"], meta["network"],
                                meta["period"] or None, replace=replace, author=author,
                                data=network, source=meta["file"])
    shutil.rmtree(folder, ignore_errors=True)
    return info


def _mapping_rows(tables, mapping) -> list[dict]:
    """For each sheet, the tpn columns its headers lack, with the headers to choose from."""
    rows = []
    for sheet, table in tables.items():
        if sheet not in MAPPABLE or not table.headers:
            continue
        mapped = mapping.get(sheet, {})
        present = set(table.columns) | set(mapped.values())
        unknown = [h for h, c in zip(table.headers, table.columns)
                   if h not in mapped and c not in MAPPABLE[sheet]]
        for column in MAPPABLE[sheet]:
            required = column in REQUIRED.get(sheet, ())
            if column in present and not any(v == column for v in mapped.values()):
                continue
            if not required and not unknown and column not in mapped.values():
                continue
            chosen = next((h for h, c in mapped.items() if c == column), "")
            rows.append({"sheet": sheet, "column": column, "required": required,
                         "headers": table.headers, "chosen": chosen})
    return rows


@bp.route("/networks/<name>/import/<token>")
@role_required("facilitator")
def preview(name: str, token: str):
    folder, meta = _load(name, token)
    if not _is_large(folder, meta):
        shown = _preview(db(), folder, meta, request.args)
    elif _preview_file(folder, request.args).exists():
        shown = json.loads(_preview_file(folder, request.args).read_text())
    else:
        here = request.full_path
        return jobs.start(name, _("Reading {file}", file=meta["file"]), "read_upload",
                          (str(folder), meta, _columns(request.args)),
                          then=lambda job: redirect(here))
    return render_template("import_preview.html", net=name, token=token, meta=meta,
                           **shown), 200 if shown["network"] else 422


@bp.route("/networks/<name>/import/<token>", methods=["POST"])
@role_required("facilitator")
def confirm(name: str, token: str):
    folder, meta = _load(name, token)
    if request.form.get("action") == "cancel":
        shutil.rmtree(folder, ignore_errors=True)
        flash(_("Import cancelled; nothing was saved."), "info")
        return redirect(url_for("networks.overview", name=name))
    replace = request.form.get("replace") == "yes"
    if _is_large(folder, meta):
        return jobs.start(name, _("Importing {file}", file=meta["file"]), "import_upload",
                          (str(folder), meta, _columns(request.form), replace,
                           g.user["username"]), then=_imported)
    info = import_upload(db(), str(folder), meta, request.form, replace, g.user["username"])
    _say_imported(name, info)
    return redirect(url_for("networks.overview", name=name))


def _imported(job):
    if job.result is not None:          # said once; a later visit only goes on
        _say_imported(job.network, job.result)
        job.result = None
    return redirect(url_for("networks.overview", name=job.network))


def _say_imported(name: str, info) -> None:
    flash(_("Imported {institutions} institutions, {topics} topics and {scores} "
            "scores (periods {value}), {focus} focus topics.", institutions=info.institutions,
            topics=info.topics, scores=info.scores, value=', '.join(info.periods) or 'none',
            focus=info.focus), "info")
    for c in info.coverage:
        on = join((_("{n} on {topic}", n=n, topic=t) for t, n in c.scores_by_topic), ", ")
        flash(_("{period}: {scores}; {without} of {institutions} institutions have no score.",
                period=c.period, scores=on if c.scores_by_topic else _("no score"),
                without=c.institutions_without, institutions=info.institutions), "info")
    if info.quality != "no score flagged":
        flash(Markup(gettext('Data quality: %(summary)s. <a href="%(url)s">See the data-quality '
                             'report</a>.')) % {"summary": say(info.quality),
                                                "url": url_for("quality.report", name=name)},
              "warning")
