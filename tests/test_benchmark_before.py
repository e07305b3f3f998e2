"""``benchmarks/run.py --before COMMIT`` times the earlier commit's own tpn, not this one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_earlier_tree_is_timed_with_its_own_tpn(tmp_path):
    tree = tmp_path / "earlier"
    (tree / "tpn").mkdir(parents=True)
    (tree / "benchmarks").mkdir()
    (tree / "tpn" / "__init__.py").write_text("")
    (tree / "tpn" / "matching.py").write_text(
        "class MatchOptions:\n    def __init__(self, **options):\n        self.options = options\n")
    (tree / "benchmarks" / "run.py").write_text(
        "import tpn\n\n\ndef family_options(folder):\n    raise AssertionError\n\n\n"
        "def run_one(size, folder):\n    return {'tpn': tpn.__file__, 'size': size}\n")
    network = tmp_path / "network"
    network.mkdir()
    (network / "options.json").write_text(json.dumps(
        {"family": "scarce", "options": {"mentor_capacity": 1}}))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--one", "S",
                           "--network", str(network), "--tree", str(tree)],
                          capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(row["tpn"]).resolve() == (tree / "tpn" / "__init__.py").resolve()
    assert (row["family"], row["size"]) == ("scarce", "S")
