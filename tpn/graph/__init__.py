"""The institution network as a networkx graph, and its metrics."""

from .network import network_metrics, twinning_graph

__all__ = ["network_metrics", "twinning_graph"]
