"""Other processes for the storage tests (tests/test_storage.py): each writes into a
database the way a second user or a killed command would.

    python tests/storage_workers.py import URL FILE NAME
    python tests/storage_workers.py write URL NAME INST,INST,…
    python tests/storage_workers.py run URL NAME
"""

from __future__ import annotations

import sys

from tpn import services
from tpn.storage import Database


def import_network(url: str, path: str, name: str) -> None:
    services.import_file(Database.open(url), path, name)
    print("done", flush=True)


def write_focus_and_run(url: str, author: str, institutions: str) -> None:
    """Many small writes into the network "shared", then two runs, all as ``author``."""
    db = Database.open(url)
    for inst in institutions.split(","):
        services.set_focus(db, "shared", inst, "cbhi", 3, author=author)
        services.set_fields(db, "shared", "institution", inst, {"region": "zone-" + author},
                            author=author)
    for _ in range(2):
        services.run_match(db, "shared", author=author)
    print("ok", flush=True)


def run(url: str, name: str) -> None:
    print("solving", flush=True)
    services.run_match(Database.open(url), name)
    print("done", flush=True)


JOBS = {"import": import_network, "write": write_focus_and_run, "run": run}

if __name__ == "__main__":
    JOBS[sys.argv[1]](*sys.argv[2:])
