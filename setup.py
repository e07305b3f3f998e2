"""The one C extension; everything else about the package is in pyproject.toml.

The network simplex of the certificate's later rounds (tpn/matching/simplex.py) and the
shortest distances behind each round's potentials (tpn/matching/flow.py) run in C: their
loops are ones vectorised NumPy cannot express. It needs a C compiler and Python's
headers, nothing else.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("tpn.matching._simplex", ["tpn/matching/_simplex.c"])])
