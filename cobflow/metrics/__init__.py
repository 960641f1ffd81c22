"""The order-book metrics of METRICS.md as plain functions, so that the dataflows, `cobflow
compute` and the tests all use one definition."""
