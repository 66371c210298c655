"""Arrow arrays from buffers against pyarrow.array, value for value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hotspots._arrow import (
    bools,
    column,
    fixed_strings,
    numbers,
    numpy_of,
    string_hashes,
    strings,
    texts,
)


@pytest.mark.parametrize("values", [
    ["2022-01", "Zoo One", "", "é and £", "日本"],
    [],
    ["only"],
    ["8a194ad30807fff", "8a194ad3080ffff"],  # one width, ASCII: numpy's pass
    ["ab", "a\x00"],  # a trailing NUL kept (numpy would pad it away)
    ["a\x00b", "abc"],
    ["£12", "£34"],  # one width, not ASCII
])
def test_strings_are_pyarrows(values):
    got = strings(values)
    assert got.equals(pa.array(values, pa.string()))
    got.validate(full=True)
    assert strings(np.array(values, dtype=object)).equals(got)


def test_fixed_strings_are_pyarrows():
    raw = np.array([b"8a194ad30807fff", b"8a194ad3080ffff"], "S15")
    assert fixed_strings(raw).equals(pa.array([r.decode() for r in raw], pa.string()))
    assert fixed_strings(np.full(3, b"2022-06")).to_pylist() == ["2022-06"] * 3


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint64,
                                   np.float32, np.float64, np.bool_])
def test_numbers_are_pyarrows(dtype):
    rng = np.random.default_rng(1)
    values = (rng.random(37) * 100).astype(dtype)
    got = numbers(values)
    got.validate(full=True)
    assert got.equals(pa.array(values))
    # a strided view is copied into a contiguous buffer, not misread
    assert numbers(values[::3]).equals(pa.array(values[::3]))
    with pytest.raises(TypeError, match="no Arrow type"):
        numbers(np.array(["a"], object))


def test_bools_and_numpy_of_read_back_slices_and_nulls():
    rng = np.random.default_rng(2)
    b = rng.random(50) < 0.4
    arr = pa.array(b)
    assert np.array_equal(bools(arr), b)
    assert np.array_equal(bools(arr.slice(3, 20)), b[3:23])  # offset not a byte
    with_nulls = pa.array([True, None, False, True])
    assert bools(with_nulls).tolist() == [True, False, False, True]
    chunked = pa.chunked_array([arr.slice(0, 10), arr.slice(10)])
    assert np.array_equal(bools(chunked), b)
    ints = pa.array(np.arange(30, dtype=np.int32))
    assert numpy_of(ints.slice(5, 7)).tolist() == list(range(5, 12))
    assert numpy_of(pc.index_in(pa.array(["b", "a"]), value_set=pa.array(
        ["a", "b"]))).tolist() == [1, 0]
    assert numpy_of(pa.chunked_array([], pa.int64())).tolist() == []
    with pytest.raises(ValueError, match="without nulls"):
        numpy_of(pa.array([1, None]))


def test_texts_give_fixed_width_bytes_or_objects():
    cells = pa.array(["8a194ad30807fff", "8a194ad3080ffff", "8a194ad3081ffff"])
    got = texts(cells.slice(1))
    assert got.dtype == np.dtype("S15")
    assert got.tolist() == [b"8a194ad3080ffff", b"8a194ad3081ffff"]
    assert texts(pa.chunked_array([cells[:1], cells[1:]])).tolist() == [
        c.encode() for c in cells.to_pylist()]
    mixed = texts(pa.array(["a", "bcd", None]))
    assert mixed.dtype == object and mixed.tolist() == ["a", "bcd", None]
    assert texts(pc.dictionary_encode(cells)).dtype == np.dtype("S15")


def test_column_takes_the_fast_path_only_where_it_is_exact():
    assert column(np.arange(4)).equals(pa.array(np.arange(4)))
    assert column(np.array(["a", "b"], object)).equals(pa.array(["a", "b"]))
    assert column(np.array(["a", "bb"])).equals(pa.array(["a", "bb"]))
    assert column(np.array(["a", None], object)).equals(pa.array(["a", None]))
    assert column([1.5, 2.5]).equals(pa.array([1.5, 2.5]))


def test_string_hashes_depend_on_each_value_alone():
    """Crime IDs (64 hex digits) hashed from the buffer and other values by
    pandas give each value one hash, whatever the array it sits in (a slice, a
    chunked array, large strings, mixed with other widths) and distinct values
    distinct hashes."""
    rng = np.random.default_rng(3)
    ids = [rng.bytes(32).hex() for _ in range(300)]
    other = ["", "x", "crime-1", "é" * 32, "ab" * 40]
    values = ids + other + ids[:50]  # repeats
    alone = {v: string_hashes(pa.array([v]))[0] for v in values}
    assert len(set(alone.values())) == len(set(values))
    arr = pa.array(rng.permutation(np.array(values, object)).tolist())
    want = [alone[v] for v in arr.to_pylist()]
    assert string_hashes(arr).tolist() == want
    assert string_hashes(arr.slice(7, 100)).tolist() == want[7:107]
    assert string_hashes(pa.chunked_array([arr.slice(0, 9), arr.slice(9)])
                         ).tolist() == want
    assert string_hashes(arr.cast(pa.large_string())).tolist() == want
    assert string_hashes(arr.dictionary_encode()).tolist() == want
    only_ids = pa.array(ids[5:40])
    assert string_hashes(only_ids.slice(3)).tolist() == [alone[v] for v in
                                                          ids[8:40]]
    assert string_hashes(pa.array([], pa.string())).shape == (0,)
    with pytest.raises(ValueError, match="null"):
        string_hashes(pa.array(["a", None]))
