"""The tools (the `cobflow` command, services, dashboards, reports, backtests, training,
the demo): the top layer, built on the dataflows and everything below them."""
