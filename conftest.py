"""Collection for the whole tree (doctests included)."""

from tpn.matching import native

# The warm simplex's examples pivot in the C core, which an install without a compiler lacks.
collect_ignore = [] if native.ACCELERATED else ["tpn/matching/simplex.py"]
