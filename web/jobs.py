"""Long operations as jobs: a match or a rerun of a large network, and the reading and
import of a large upload, run in a process of their own, under a memory ceiling, while the
job's page shows the progress and the rest of the app answers everyone else. The
facilitator can leave the page and come back (the network's front page lists what is
running).

A small network (``JOB_INSTITUTIONS``, 1,000 institutions by default) is matched within
the request: it takes under a second; so is an upload under ``JOB_UPLOAD_BYTES`` (2 MB).
The ceiling is ``TPN_JOB_MEMORY_MB`` (4,096 MB by default, on Linux and macOS); a job that
needs more fails alone, with a message.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from flask import Blueprint, abort, current_app, g, redirect, render_template, url_for

from tpn.errors import TpnError
from tpn.i18n import _, ngettext
from tpn.storage import Database

from .auth import check_network, role_required

bp = Blueprint("jobs", __name__)
KEEP_SECONDS = 24 * 3600        # finished jobs stay listed for a day


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.config.setdefault("JOB_INSTITUTIONS", 1000)
    app.config.setdefault("JOB_UPLOAD_BYTES", 2 * 1024 * 1024)
    app.config.setdefault("JOB_MEMORY_MB", int(os.environ.get("TPN_JOB_MEMORY_MB", "4096")))
    app.extensions["tpn_jobs"] = Jobs()


@dataclass
class Job:
    """What a job does, how far it got, and how it ended (``run``: the run it made;
    ``result``: what another task returned). ``then`` answers the job's page once it has
    finished well (in this server process: it may flash and redirect)."""

    id: str
    network: str
    what: str
    started_by: str
    started_at: float = field(default_factory=time.time)
    stage: str = "starting"
    share: float | None = None
    finished_at: float | None = None
    run: int | None = None
    summary: str = ""
    error: str = ""
    problems: list = field(default_factory=list)
    result: object = None
    then: Callable | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class Jobs:
    """The jobs of this server process; a thread per job reads its process's reports."""

    def __init__(self):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, network: str, what: str, user: str, database_url: str, memory_mb: int,
              task: str, args: tuple, then: Callable | None = None) -> Job:
        job = Job(secrets.token_urlsafe(12), network, what, user, then=then)
        context = multiprocessing.get_context("spawn")     # never fork a threaded server
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(database_url, memory_mb, task, args, send),
                                  daemon=True)
        process.start()
        send.close()
        with self._lock:
            self._forget_old()
            self._jobs[job.id] = job
        threading.Thread(target=self._follow, args=(job, process, receive), daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def of_network(self, network: str) -> list[Job]:
        with self._lock:
            return sorted((j for j in self._jobs.values() if j.network == network),
                          key=lambda j: -j.started_at)

    def _follow(self, job: Job, process, receive) -> None:
        try:
            while True:
                message = receive.recv()
                kind = message[0]
                if kind == "progress":
                    job.stage, job.share = message[1], message[2]
                elif kind == "done":
                    job.run, job.summary, job.result = message[1], message[2], message[3]
                    break
                elif kind == "failed":
                    job.error, job.problems = message[1], message[2]
                    break
        except EOFError:
            process.join()
            job.error = _("the job stopped without finishing (exit code {code}); nothing was "
                          "saved", code=process.exitcode)
        finally:
            receive.close()
            process.join()
            job.finished_at = time.time()

    def _forget_old(self) -> None:
        now = time.time()
        for key in [k for k, j in self._jobs.items()
                    if j.finished and now - j.finished_at > KEEP_SECONDS]:
            del self._jobs[key]


def _work(database_url: str, memory_mb: int, task: str, args: tuple, send) -> None:
    """In the job's own process: the database and the solver's libraries loaded, then the
    memory ceiling, then the task, reporting each stage."""
    import importlib

    db = Database.open(database_url)
    importlib.import_module("ortools.graph.python.min_cost_flow")   # before the ceiling

    try:
        import resource

        # The soft limit only: lifted again to report a failure (which needs memory too).
        ceiling = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, ceiling[1]))
    except (ImportError, ValueError, OSError):      # Windows: no ceiling
        ceiling = None
    last = [0.0]

    def progress(stage: str, share: float | None) -> None:
        if time.monotonic() - last[0] > 0.2:        # a few reports a second are enough
            last[0] = time.monotonic()
            send.send(("progress", stage, share))

    try:
        module, name = TASKS[task].split(":")
        result = getattr(importlib.import_module(module), name)(db, *args, progress=progress)
        if hasattr(result, "matched"):      # a new run
            send.send(("done", result.id, _("{matched} pairs, {unmatched} requests without a "
                                            "mentor", matched=result.matched,
                                            unmatched=result.unmatched), None))
        else:
            send.send(("done", None, str(getattr(result, "summary", "")), result))
    except MemoryError:
        if ceiling is not None:
            resource.setrlimit(resource.RLIMIT_AS, ceiling)
        send.send(("failed", _("the job needed more than {mb:,} MB of memory "
                               "(TPN_JOB_MEMORY_MB); nothing was saved", mb=memory_mb), []))
    except TpnError as exc:
        problems = getattr(exc, "problems", [])
        said = ngettext("{n} problem found; nothing was saved", "{n} problems found; nothing "
                        "was saved", len(problems)) if problems else exc.text
        send.send(("failed", said, [p.as_dict() for p in problems]))
    except Exception as exc:        # noqa: BLE001 — a bug in tpn: said, not swallowed
        error = f"{type(exc).__name__}: {exc}"
        send.send(("failed", _("tpn failed ({error}); nothing was saved. Please report it",
                               error=error), []))
        raise
    finally:
        send.close()


# Named, not passed: the job's process imports the function itself.
TASKS = {
    "match": "tpn.services:run_match", "rerun": "tpn.services:rerun",
    "rerun_round": "tpn.services:rerun_round",
    "read_upload": "web.imports:read_upload", "import_upload": "web.imports:import_upload",
}


def as_job(network: str, institutions: int, what: str, task: str, args: tuple):
    """Start ``task`` as a job and answer with its page, or None when the network is
    small enough to do it within this request."""
    if institutions < current_app.config["JOB_INSTITUTIONS"]:
        return None
    return start(network, what, task, args)


def start(network: str, what: str, task: str, args: tuple, then: Callable | None = None):
    """Start ``task`` as a job and answer with its page."""
    job = current_app.extensions["tpn_jobs"].start(
        network, what, g.user["username"],
        current_app.extensions["tpn_db"].engine.url.render_as_string(hide_password=False),
        current_app.config["JOB_MEMORY_MB"], task, args, then)
    return redirect(url_for("jobs.show", job_id=job.id))


@bp.route("/jobs/<job_id>")
@role_required()
def show(job_id: str):
    job = current_app.extensions["tpn_jobs"].get(job_id)
    if job is None:
        abort(404)
    check_network(job.network)
    if job.finished and not job.error:
        if job.then is not None:
            return job.then(job)
        if job.run is not None:
            return redirect(url_for("runs.results", run_id=job.run))
    return render_template("job.html", job=job, elapsed=time.time() - job.started_at)


def running(network: str) -> list[Job]:
    """The network's jobs, newest first, for its front page."""
    return current_app.extensions["tpn_jobs"].of_network(network)
