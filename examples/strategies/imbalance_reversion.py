"""Imbalance mean reversion: fade a book that leans hard one way.

When the consolidated book's liquidity imbalance, averaged over `average` (li_ma_5 by
default), leans past `enter` (bids far outweigh asks), the strategy expects the lean to
revert and sells; past -`enter` it buys. In between it keeps its position. Written only
against the public API (`cobflow.strategy`):

    cobflow backtest --input CAPTURE --out bt --strategy examples.strategies.imbalance_reversion:ImbalanceReversion
"""

from __future__ import annotations

from pydantic import Field

from cobflow.strategy import Context, Intent, Strategy


class ImbalanceReversion(Strategy):
    class Params(Strategy.Params):
        average: str = Field("li_ma_5", pattern=r"^li_ma_(1|5|15|60)$", description="the imbalance average read")
        enter: float = Field(0.25, gt=0, lt=1, description="|imbalance| that makes a call")

    models = ()  # reads no model: the flow runs none for it

    def on_second(self, ctx: Context) -> Intent | None:
        if ctx.quality < ctx.min_quality:
            return Intent.hold("data_quality")
        lean = ctx.cob.get(self.params.average)
        if lean is None or lean != lean:  # no book yet, or NaN
            return Intent.hold("no_imbalance")
        if lean >= self.params.enter:
            return Intent.sell(min(1.0, lean), f"{self.params.average} {lean:.3f} >= {self.params.enter:g}")
        if lean <= -self.params.enter:
            return Intent.buy(min(1.0, -lean), f"{self.params.average} {lean:.3f} <= -{self.params.enter:g}")
        return None  # HOLD, no_signal
