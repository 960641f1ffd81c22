"""Damage to real frames, for the fuzz tests and `bench/fuzz.py`: cuts, flipped and dropped
characters, values replaced by junk, duplicated pieces."""

from __future__ import annotations

import random
from dataclasses import replace

from cobflow.raw import RawMessage

JUNK = ['null', 'true', '-1', '1e400', '"x"', '[]', '{}', '""', '0', '-0.0', '"NaN"', '18446744073709551616',
        '"\\u0000"', '[[[]]]', '"9999999999999999999999.5"']


def mutate(text: str, rng: random.Random) -> str:
    """One random damage: a cut, a flipped or dropped character, a value replaced by junk,
    a piece duplicated, or a few of them at once."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not text:
            return rng.choice(JUNK)
        i = rng.randrange(len(text))
        kind = rng.randrange(7)
        if kind == 0:
            text = text[:i]
        elif kind == 1:
            text = text[:i] + chr(rng.randrange(32, 0x2FF)) + text[i + 1:]
        elif kind == 2:
            text = text[:i] + text[i + 1:]
        elif kind == 3:  # a JSON value (a number, a string, a list) replaced by junk
            j = i
            while j < len(text) and text[j] not in ",}]":
                j += 1
            text = text[:i] + rng.choice(JUNK) + text[j:]
        elif kind == 4:
            j = min(len(text), i + rng.randrange(1, 40))
            text = text[:j] + text[i:j] + text[j:]
        elif kind == 5:  # a digit changed (prices, sizes, sequence numbers, checksums)
            digits = [k for k, c in enumerate(text) if c.isdigit()]
            if digits:
                k = rng.choice(digits)
                text = text[:k] + str(rng.randrange(10)) + text[k + 1:]
        else:
            text = text[:i] + rng.choice(JUNK) + text[i:]
    return text


def damaged(m: RawMessage, rng: random.Random) -> RawMessage:
    """The frame with its text damaged (a binary frame's text, gzipped again: HTX)."""
    text = mutate(m.payload_text() if m.encoding else m.payload, rng)
    if m.encoding is None:
        return replace(m, payload=text)
    import base64
    import gzip

    raw = text.encode("utf-8", "surrogatepass")
    return replace(m, payload=base64.b64encode(gzip.compress(raw) if m.encoding == "base64-gzip" else raw).decode())
