"""The one C extension, optional; everything else about the package is in pyproject.toml.

The network simplex of the certificate's later rounds (tpn/matching/simplex.py) and the
shortest distances behind each round's potentials (tpn/matching/flow.py) run in C when a
C compiler is there at install; without one the extension is skipped and tpn takes the
NumPy path (tpn/matching/native.py), with the same answers. ``tpn --version`` says which.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("tpn.matching._simplex", ["tpn/matching/_simplex.c"],
                             optional=True)])
