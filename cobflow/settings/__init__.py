"""Each component's settings, one module each (composed into `Settings` by `cobflow.config`,
where everything here is importable from):

    kafka.py questdb.py services.py flow.py models.py   their sections of Settings
    trading.py strategy.py    Settings' sections and each symbol's `trading:` / `strategy:`
    book.py                   a symbol's bucket, markets, quote conversion and `features:`
    symbols.py                symbols.yaml (SymbolsConfig, load_symbols)
    base.py                   ConfigError, PluginError, PluginSpec, one-line messages
"""
