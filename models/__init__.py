"""PyTorch model operators (features -> BUY/SELL/HOLD) will live here.

Nothing is implemented yet; torch is the optional `models` extra (pip install -e '.[models]').
"""
