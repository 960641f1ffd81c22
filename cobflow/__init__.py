"""cobflow: exchange feeds -> Kafka -> Bytewax dataflows -> QuestDB -> Grafana."""

__version__ = "0.1.0"
