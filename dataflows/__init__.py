"""Bytewax dataflows, run as `python -m bytewax.run dataflows.<module>:flow`.

Each module builds its flow from `COBFLOW_*` settings when `flow` is first looked up, and
exposes the pipeline itself as an operator so tests can feed it from TestingSource.
"""
