"""`cobflow simulate`: a deterministic multi-venue market in each venue's real wire format."""

from cobflow.connectors.simulator.engine import SimConfig, simulate

__all__ = ["SimConfig", "simulate"]
