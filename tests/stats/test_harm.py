"""The harm table: complete, documented, overridable, validated."""

from __future__ import annotations

import pytest

from hotspots.config import CRIME_TYPES
from hotspots.errors import DataError
from hotspots.stats.harm import harm_table


def test_default_table_covers_every_type_and_names_its_source():
    t = harm_table()
    assert set(t.weights) == set(CRIME_TYPES)
    assert "Sherman" in t.source
    assert t.of(["Robbery", "Shoplifting"]).tolist() == [365.0, 1.0]


def _write(tmp_path, weights):
    lines = ['source = "force table"', "[weights]"]
    lines += [f'"{k}" = {v}' for k, v in weights.items()]
    p = tmp_path / "harm.toml"
    p.write_text("\n".join(lines))
    return p


def test_a_force_table_overrides_by_argument_and_environment(tmp_path, monkeypatch):
    w = dict.fromkeys(CRIME_TYPES, 2)
    p = _write(tmp_path, w)
    assert harm_table(p).of(["Robbery"]).tolist() == [2.0]
    monkeypatch.setenv("HOTSPOTS_HARM_WEIGHTS", str(p))
    t = harm_table()
    assert t.source == "force table" and t.weights["Burglary"] == 2


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"drop": "Robbery"}, r"missing \['Robbery'\]"),
        ({"add": "Jaywalking"}, r"unknown \['Jaywalking'\]"),
        ({"set": -1}, "must be 0 or a number from 1e-05 to 1,000,000"),
        ({"set": "nan"}, "to 1,000,000 .days., got nan"),
        ({"set": "inf"}, "to 1,000,000 .days., got inf"),
        ({"set": "1e308"}, "must be 0 or a number from 1e-05 to 1,000,000"),
        ({"set": "1e-200"}, "got 1e-200"),
        ({"set": "true"}, "got True"),
    ],
    ids=["missing", "unknown", "negative", "nan", "inf", "huge", "tiny", "bool"],
)
def test_bad_tables_name_the_file_and_problem(tmp_path, change, match):
    w = dict.fromkeys(CRIME_TYPES, 1)
    if "drop" in change:
        del w[change["drop"]]
    if "add" in change:
        w[change["add"]] = 1
    if "set" in change:
        w["Drugs"] = change["set"]
    p = _write(tmp_path, w)
    with pytest.raises(DataError, match=match) as info:
        harm_table(p)
    assert "harm.toml" in str(info.value)


def test_a_table_not_in_utf8_is_named_not_an_internal_error(tmp_path):
    p = _write(tmp_path, dict.fromkeys(CRIME_TYPES, 1))
    p.write_bytes(p.read_bytes() + b"\n# caf\xe9\n")
    with pytest.raises(DataError, match="harm.toml.*not UTF-8 text .byte"):
        harm_table(p)


def test_a_device_or_pipe_as_the_table_is_refused_not_read(tmp_path, monkeypatch):
    """/dev/zero had filled the memory (24 GB) and a FIFO had waited for ever."""
    import os

    from hotspots.errors import ParameterError

    monkeypatch.setenv("HOTSPOTS_MAX_INPUT_MB", "1")
    with pytest.raises(ParameterError, match=r"the harm table \(/dev/zero\) is "
                       "larger than the cap"):
        harm_table("/dev/zero")
    fifo = tmp_path / "weights.toml"
    os.mkfifo(fifo)
    monkeypatch.setenv("HOTSPOTS_HARM_WEIGHTS", str(fifo))
    with pytest.raises(ParameterError, match="is a pipe, not a file"):
        harm_table()
