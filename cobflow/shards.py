"""Which worker of a Bytewax cluster holds a key, so that a step that gathers many symbols
(the strategy step's batched models) can run one shard per process, each on a worker of the
process that already holds its symbols' books: their seconds then never cross between
processes.

Bytewax 0.21 routes a stateful step's key to worker `hash % workers`, the hash being Rust's
`DefaultHasher` (SipHash-1-3, keys 0 and 0) of the key's text followed by the byte 0xff (how
Rust hashes a `str`). `worker_of` computes the same number. Only speed rests on it: every row
is the same wherever a key lands (tests/unit/test_shards.py checks the placement on the
installed Bytewax; were it to change, shards would share workers and nothing else).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

_MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash13(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-1-3 of `data` (one compression round per 8-byte word, three to finish)."""
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    n = len(data)
    end = n - n % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= m
    m = ((n & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v3 ^= m
    v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    v0 ^= m
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=4096)
def worker_of(key: str, workers: int) -> int:
    """The worker (0 .. workers-1) Bytewax routes a stateful step's `key` to."""
    return siphash13(key.encode() + b"\xff") % workers if workers > 1 else 0


@lru_cache(maxsize=256)
def shard_key(prefix: str, worker: int, workers: int) -> str:
    """A key that lands on `worker`: `prefix` itself with one worker, else the first of
    `prefix.0`, `prefix.1`, ... that does."""
    if workers <= 1:
        return prefix
    k = 0
    while worker_of(f"{prefix}.{k}", workers) != worker:
        k += 1
    return f"{prefix}.{k}"


def shards(keys: Iterable[str], prefix: str, workers: int, processes: int = 1) -> dict[str, str]:
    """Each key -> its process's shard key: one shard per process of the cluster, on the
    first worker of the process that holds the key (Timely numbers a process's workers
    `process * per_process` onwards). Worker threads of one process share the interpreter
    lock, so a shard per thread would add work, not speed: one process, one shard, `prefix`."""
    if processes <= 1 or workers <= 1:
        return {k: prefix for k in keys}
    per = max(1, workers // processes)
    return {k: shard_key(prefix, worker_of(k, workers) // per * per, workers) for k in keys}
