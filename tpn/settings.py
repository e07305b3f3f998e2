"""Where tpn keeps its data, in one place for the CLI and the web app: the instance folder
(``TPN_INSTANCE``, else ``./instance``), the database (``TPN_DATABASE_URL``, else
``tpn.sqlite`` in the instance folder) and the web app's secret key (generated on first
use, kept in the instance folder, readable by its owner only).

>>> import tempfile
>>> s = Settings.read(instance=tempfile.mkdtemp())
>>> s.database_url.startswith("sqlite:///"), len(s.secret_key())
(True, 64)
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    instance: Path
    database_url: str

    @classmethod
    def read(cls, instance: str | os.PathLike | None = None,
             database_url: str | None = None) -> "Settings":
        """From what was given, else the environment, else the defaults."""
        folder = Path(instance or os.environ.get("TPN_INSTANCE") or "instance").resolve()
        url = database_url or os.environ.get("TPN_DATABASE_URL") or \
            f"sqlite:///{folder / 'tpn.sqlite'}"
        return cls(folder, url)

    def make_instance(self) -> Path:
        """The instance folder, created (for the owner only) on first use."""
        self.instance.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.instance

    def secret_key(self) -> str:
        """The session secret, generated on first use; no key ever sits in the code. It
        is written whole before it appears under its name (servers starting together all
        read the first one written), and an empty file a killed start left is replaced."""
        path = self.make_instance() / "secret_key"
        key = _read_key(path)
        if key:
            return key
        draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
        try:
            if path.exists():
                os.replace(draft, path)     # the empty one
            else:
                os.link(draft, path)        # the first of several wins
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
        return _read_key(path)


def _read_key(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
