"""A symbols file of many markets for the simulator: the scale benchmarks' and the cluster
tests' universe (the top coins by market value, each on five venues, USDT books converted
with Coinbase's USDT-USD)."""

from __future__ import annotations

NAMES = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "BCH", "ATOM", "UNI", "XLM",
         "ETC", "FIL", "APT", "ARB", "OP", "NEAR", "ICP", "INJ", "AAVE", "ALGO", "SAND", "MANA", "AXS", "EGLD", "XTZ",
         "EOS", "FLOW", "CHZ", "GRT", "MKR", "SNX", "CRV", "COMP", "ZEC", "DASH", "KSM", "RUNE", "ENJ", "BAT", "ZIL",
         "1INCH", "SUSHI", "YFI", "LRC", "KAVA")


def symbols_yaml(n: int) -> str:
    """The symbols file (YAML text) of the first `n` of NAMES (at most 50), five venues each."""
    if not 1 <= n <= len(NAMES):
        raise ValueError(f"between 1 and {len(NAMES)} symbols, not {n}")
    lines = ["symbols:"]
    for name in NAMES[:n]:
        lines += [f"  {name}-USD:", "    bucket: 2bps",
                  f"    venues: {{binance: {name}-USDT, coinbase: {name}-USD, kraken: {name}/USD, "
                  f"okx: {name}-USDT, bybit: {name}-USDT}}",
                  "    quote: {USDT: {market: coinbase:USDT-USD}}"]
    return "\n".join(lines) + "\n"
