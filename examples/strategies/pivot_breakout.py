"""Pivot breakout: trade the break of the last confirmed swing.

FEATURES.md's level-2 pivots of the 1s bars are the swings; the feature vector holds the
distance from the mid to the latest confirmed pivot high and low, in bps. A mid that rises
`margin_bps` above the last pivot high is a breakout up (BUY); one that falls `margin_bps`
below the last pivot low a breakout down (SELL). A call is made once per break: the
strategy remembers on `self` which side it last broke (kept across restarts). Written only
against the public API (`cobflow.strategy`):

    cobflow backtest --input CAPTURE --out bt --strategy examples.strategies.pivot_breakout:PivotBreakout
"""

from __future__ import annotations

from pydantic import Field

from cobflow.strategy import Context, Intent, Strategy


class PivotBreakout(Strategy):
    class Params(Strategy.Params):
        margin_bps: float = Field(0.5, ge=0, description="how far past the pivot the mid must be")

    models = ()

    def __init__(self, symbol: str, params: Params) -> None:
        super().__init__(symbol, params)
        self.last_break = 0  # +1 up, -1 down, 0 none yet

    def on_second(self, ctx: Context) -> Intent | None:
        if ctx.quality < ctx.min_quality or not ctx.features:
            return Intent.hold("data_quality")
        high = ctx.feature("pivot_high_dist_bps")  # (pivot high - mid) / mid in bps; 0: none yet
        low = ctx.feature("pivot_low_dist_bps")
        m = self.params.margin_bps
        if high != 0.0 and -high >= m and self.last_break != 1:
            self.last_break = 1
            return Intent.buy(1.0, f"mid {-high:.2f} bps above the last pivot high")
        if low != 0.0 and low >= m and self.last_break != -1:
            self.last_break = -1
            return Intent.sell(1.0, f"mid {low:.2f} bps below the last pivot low")
        return None
