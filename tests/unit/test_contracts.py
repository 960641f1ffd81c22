"""The contracts the code cites are in the repo (docs/contracts/), so a clone has every
definition its source refers to."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "docs" / "contracts"


def test_every_contract_the_source_cites_is_in_the_repo():
    cited: dict[str, str] = {}
    for folder in ("cobflow", "connectors", "operators", "models", "dataflows", "app", "bench", "tests"):
        for p in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r"\b([A-Z]{4,})\.md\b", p.read_text()):
                cited.setdefault(name, str(p.relative_to(ROOT)))
    assert {"CAPTURE", "METRICS", "FEATURES", "EXECUTION"} <= set(cited)
    missing = {f"{n}.md (cited in {where})" for n, where in cited.items()
               if n != "README" and not (CONTRACTS / f"{n}.md").is_file()}
    assert not missing
    index = (CONTRACTS / "README.md").read_text()
    assert all(f"({n}.md)" in index for n in cited if n != "README")


def test_the_contracts_keep_the_rules_the_tests_check():
    """A few sentences the code is held to, so an edit that drops one is seen."""
    features = (CONTRACTS / "FEATURES.md").read_text()
    assert "a bar with fewer than k bars\n  before it in the series is no pivot" in features
    execution = (CONTRACTS / "EXECUTION.md").read_text()
    for rule in ("halted", "data_quality", "max_order_notional", "max_position_notional", "max_orders_per_minute",
                 "stop_loss", "max_drawdown_pct", "daily_loss_pct"):
        assert f"`{rule}`" in execution
    from cobflow.execution.risk import RULES

    listed = re.findall(r"^\d\. `(\w+)`", execution, re.M)
    assert listed == [r.name for r in RULES]
