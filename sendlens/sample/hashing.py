"""Counter-based randomness (``Hasher``: splitmix64 of seed, stream, index) and the Arrow
column builders (fixed-width ids, hex tokens, dictionary lookups, timestamps) of the sample,
with the Arrow schema of every landing kind (from ``ingest.contracts.CONTRACTS``)."""

from __future__ import annotations

import zlib
from datetime import datetime

import numpy as np
import pyarrow as pa

from sendlens.ingest.contracts import ARROW_TYPES, CONTRACTS
from sendlens.sample.routes import EPOCH, SEC

SCHEMAS: dict[str, pa.Schema] = {
    kind: pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype]) for c in contract.columns])
    for kind, contract in CONTRACTS.items()
}


# ---------------------------------------------------------------------------------------------
# Counter-based randomness
# ---------------------------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _splitmix(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class Hasher:
    """Uniform draws that are a pure function of (seed, stream name, integer index)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._keys: dict[str, np.uint64] = {}

    def _key(self, stream: str) -> np.uint64:
        key = self._keys.get(stream)
        if key is None:
            key = np.uint64(_splitmix(_splitmix(self.seed & _MASK64) ^ zlib.crc32(stream.encode())))
            self._keys[stream] = key
        return key

    def bits(self, stream: str, idx: np.ndarray) -> np.ndarray:
        x = np.asarray(idx).astype(np.uint64)
        x *= _GOLDEN
        x += self._key(stream)
        x ^= x >> np.uint64(30)
        x *= _C1
        x ^= x >> np.uint64(27)
        x *= _C2
        x ^= x >> np.uint64(31)
        return x

    def u(self, stream: str, idx: np.ndarray) -> np.ndarray:
        """Uniform in [0, 1)."""
        return (self.bits(stream, idx) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def exp(self, stream: str, idx: np.ndarray, mean: float) -> np.ndarray:
        return -np.log1p(-self.u(stream, idx)) * mean

    def geometric(self, stream: str, idx: np.ndarray, q: float, cap: int) -> np.ndarray:
        """1 + Geometric: P(n > k) = q**k, capped at ``cap``."""
        n = 1 + np.floor(np.log1p(-self.u(stream, idx)) / np.log(q)).astype(np.int64)
        return np.minimum(n, cap)

    def choice(self, stream: str, idx: np.ndarray, weights: tuple[tuple[int, float], ...]) -> np.ndarray:
        values = np.array([v for v, _ in weights], dtype=np.int64)
        cum = np.cumsum([w for _, w in weights])
        pos = np.searchsorted(cum / cum[-1], self.u(stream, idx), side="right")
        return values[np.minimum(pos, len(values) - 1)]


# ---------------------------------------------------------------------------------------------
# Arrow helpers
# ---------------------------------------------------------------------------------------------


def _fixed_ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal ``nums`` as a string array, built from raw buffers."""
    p = np.frombuffer(prefix.encode(), dtype=np.uint8)
    n, w = len(nums), len(p) + width
    buf = np.empty((n, w), dtype=np.uint8)
    buf[:, : len(p)] = p
    v = np.asarray(nums, dtype=np.int64).copy()
    for k in range(w - 1, len(p) - 1, -1):
        buf[:, k] = v % 10 + 48
        v //= 10
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _hex_tokens(bits: list[np.ndarray]) -> pa.Array:
    """Concatenate the hex digits of several uint64 arrays into one string per row."""
    n = len(bits[0])
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    buf = np.empty((n, 16 * len(bits)), dtype=np.uint8)
    for j, b in enumerate(bits):
        for k in range(16):
            buf[:, 16 * j + k] = digits[((b >> np.uint64(60 - 4 * k)) & np.uint64(15)).astype(np.intp)]
    w = buf.shape[1]
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _take(values: tuple[str | None, ...] | list[str | None], codes: np.ndarray) -> pa.Array:
    """Dictionary lookup; code -1 (or a None value) gives null."""
    codes = np.asarray(codes, dtype=np.int32)
    dictionary = pa.array(list(values), pa.string())
    return dictionary.take(pa.array(codes, mask=codes < 0))


def _ts(us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64).view("datetime64[us]"), type=pa.timestamp("us"),
                     mask=null)


def _merge(parts: list[tuple[np.ndarray, pa.Array]], n: int) -> pa.Array:
    """Scatter per-group string arrays back into row order (positions are a partition of 0..n-1)."""
    parts = [(pos, arr) for pos, arr in parts if len(pos)]
    if not parts:
        return pa.array([], pa.string())
    if len(parts) == 1:
        return parts[0][1]
    order = np.concatenate([pos for pos, _ in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return pa.concat_arrays([arr for _, arr in parts]).take(pa.array(inverse))


def _us(dt: datetime) -> int:
    return int((dt - EPOCH).total_seconds()) * SEC + dt.microsecond
