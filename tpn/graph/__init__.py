"""The institution network as a networkx graph, and its metrics."""

from .network import NetworkMetrics, network_metrics, twinning_graph

__all__ = ["NetworkMetrics", "network_metrics", "twinning_graph"]
