"""Paper execution (EXECUTION.md): the fill model, the account, the risk rules and the
backtest metrics, as plain functions and objects. `cobflow.operators.execution` runs them once a
second in a flow; nothing here knows about Bytewax."""
