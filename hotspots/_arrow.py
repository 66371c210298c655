"""Arrow arrays built from their buffers.

``pyarrow.array`` imports pandas the first time it is called (to ask whether
its input is a pandas object): 0.2-0.3 s a fresh ``hotspots analyse`` need not
pay. These build the same arrays from numpy buffers directly; the tests compare
them with ``pyarrow.array``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

__all__ = ["bools", "column", "fixed_strings", "numbers", "numpy_of",
           "string_hashes", "strings", "texts"]


def strings(values: Iterable[str]) -> pa.Array:
    """An Arrow string array of Python strings (no nulls).

    Text of one width in ASCII (H3 cells, months, codes) is encoded by numpy in
    one pass; anything else value by value.
    """
    arr = (values if isinstance(values, np.ndarray)
           else np.asarray(list(values), dtype=object))  # Python's str kept
    if arr.dtype.kind in "OU" and len(arr):
        try:
            raw = arr.astype(str).astype("S")  # ASCII only, else an error
        except (UnicodeEncodeError, ValueError):
            raw = None
        # one width: no value was padded, so none lost a trailing NUL either
        if raw is not None and raw.dtype.itemsize and (
                np.char.str_len(raw) == raw.dtype.itemsize).all():
            return fixed_strings(raw)
    encoded = [str(v).encode("utf-8") for v in arr.tolist()]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    kind = pa.string() if offsets[-1] < 2**31 else pa.large_string()
    offsets = offsets.astype(np.int32 if kind == pa.string() else np.int64)
    return pa.Array.from_buffers(kind, len(encoded),
                                 [None, pa.py_buffer(offsets),
                                  pa.py_buffer(b"".join(encoded))])


def fixed_strings(values: np.ndarray) -> pa.Array:
    """An Arrow string array of fixed-width byte strings, without a copy per value."""
    values = np.ascontiguousarray(values)
    width = values.dtype.itemsize
    offsets = np.arange(len(values) + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.string(), len(values),
                                 [None, pa.py_buffer(offsets),
                                  pa.py_buffer(values.tobytes())])


_TYPES = {np.dtype(np.int8): pa.int8(), np.dtype(np.int16): pa.int16(),
          np.dtype(np.int32): pa.int32(), np.dtype(np.int64): pa.int64(),
          np.dtype(np.uint8): pa.uint8(), np.dtype(np.uint16): pa.uint16(),
          np.dtype(np.uint32): pa.uint32(), np.dtype(np.uint64): pa.uint64(),
          np.dtype(np.float32): pa.float32(), np.dtype(np.float64): pa.float64()}


def numbers(values: np.ndarray) -> pa.Array:
    """An Arrow array of a numeric numpy array (no nulls; booleans packed)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values),
                                     [None, pa.py_buffer(bits)])
    kind = _TYPES.get(values.dtype)
    if kind is None:
        raise TypeError(f"no Arrow type for numpy {values.dtype}")
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy bool array of an Arrow boolean array (nulls read as False)."""
    if isinstance(values, pa.ChunkedArray):
        values = (values.combine_chunks() if values.num_chunks
                  else pa.Array.from_buffers(pa.bool_(), 0, [None, None]))
    n, off = len(values), values.offset
    validity, data = values.buffers()[:2]
    if data is None:
        return np.zeros(n, bool)
    out = np.unpackbits(np.frombuffer(data, np.uint8), count=off + n,
                        bitorder="little")[off:].astype(bool)
    if validity is not None and values.null_count:
        out &= np.unpackbits(np.frombuffer(validity, np.uint8), count=off + n,
                             bitorder="little")[off:].astype(bool)
    return out


def texts(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of an Arrow string array as numpy text (nulls as None).

    Strings of one width come back as fixed-width bytes (``S<width>``) straight
    from the array's buffer, with no Python object a value; anything else as an
    object array of ``str``.
    """
    if isinstance(values, pa.ChunkedArray):
        values = (values.combine_chunks() if values.num_chunks
                  else pa.array([], pa.string()))
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) \
            and not values.null_count and len(values):
        wide = np.int64 if pa.types.is_large_string(values.type) else np.int32
        off = np.frombuffer(values.buffers()[1], wide)[
            values.offset:values.offset + len(values) + 1]
        width = int(off[1] - off[0])
        if width and (np.diff(off) == width).all() and values.buffers()[2] \
                is not None:
            data = np.frombuffer(values.buffers()[2], np.uint8)[off[0]:off[-1]]
            return data.view(f"S{width}")
    return np.asarray(values.to_pylist(), dtype=object)


def numpy_of(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy view of a numeric Arrow array without nulls (booleans unpacked)."""
    if isinstance(values, pa.ChunkedArray):
        values = (values.combine_chunks() if values.num_chunks
                  else pa.Array.from_buffers(values.type, 0, [None, None]))
    if pa.types.is_boolean(values.type):
        return bools(values)
    if values.null_count:
        raise ValueError("numpy_of needs an array without nulls")
    dtype = np.dtype(values.type.to_pandas_dtype())
    if not len(values):
        return np.empty(0, dtype)
    return np.frombuffer(values.buffers()[1], dtype)[values.offset:
                                                     values.offset + len(values)]


def column(values) -> pa.Array:
    """An Arrow array of a numpy column: numbers and strings from their buffers,
    anything else (nulls, mixed objects) through ``pyarrow.array``."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or arr.dtype in _TYPES:
        return numbers(arr)
    if arr.dtype.kind == "U" or (arr.dtype == object
                                 and set(map(type, arr.tolist())) <= {str}):
        return strings(arr)
    return pa.array(values)


#: the byte length hashed from the buffer (police.uk Crime IDs: 64 hex digits)
HASHED_WIDTH = 64
_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)


def string_hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of strings without nulls; each depends on its value alone.

    Values of :data:`HASHED_WIDTH` bytes (every police.uk Crime ID) are hashed
    from the array's buffer, their eight 8-byte words mixed in numpy; any other
    value by ``pandas.util.hash_array`` (which needs a Python string each: about
    thirty times slower).
    """
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary.take(arr.indices)
    n = len(arr)
    out = np.empty(n, np.uint64)
    if not n:
        return out
    if arr.null_count:
        raise ValueError("string_hashes: null values")
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    off_t = np.dtype(np.int64 if wide else np.int32)
    offsets = np.frombuffer(arr.buffers()[1], off_t, n + 1,
                            arr.offset * off_t.itemsize).astype(np.int64)
    fast = np.diff(offsets) == HASHED_WIDTH
    if fast.any():
        data = np.frombuffer(arr.buffers()[2], np.uint8)
        if fast.all():
            rows = data[offsets[0]:offsets[-1]].reshape(n, HASHED_WIDTH)
        else:
            rows = data[offsets[:-1][fast, None] + np.arange(HASHED_WIDTH)]
        words = np.ascontiguousarray(rows).view("<u8")
        h = np.full(len(words), HASHED_WIDTH, np.uint64)
        with np.errstate(over="ignore"):
            for i in range(words.shape[1]):
                h ^= words[:, i]
                h *= _M1
                h ^= h >> np.uint64(29)
            h *= _M2
            h ^= h >> np.uint64(32)
        out[fast] = h
    if not fast.all():
        import pandas as pd

        rest = np.asarray(arr.filter(pa.array(~fast)).to_pylist(), object)
        out[~fast] = pd.util.hash_array(rest, categorize=False)
    return out
