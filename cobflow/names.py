"""Names the command line shows before it loads anything heavy (`cobflow --help` imports
this module, not the configuration's pydantic models): where the project is, the built-in
strategies, the servers cobflow runs."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

STRATEGIES = {
    "combined": "every source: the models and the rule signals, weighted by their recent hit rate",
    "models": "the cnn and the dqn only",
    "cnn": "the cnn only",
    "rules": "the rule signals only (imbalance crosses, arbitrage); runs no model",
    "maker": "combined's calls worked with post-only limit orders at the touch (maker fees), a market order "
             "after max_wait_s",
}

SERVERS = ("kafka", "questdb")  # the servers `cobflow services` runs
