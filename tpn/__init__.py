"""tpn — the Twinning Partnership Network.

Pairs each health institution that needs help on a topic with a high-performing peer on
that topic, explains every pair, and follows the partnerships that result.
"""

__version__ = "0.1.0"
