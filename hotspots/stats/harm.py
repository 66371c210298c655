"""Harm weights per police.uk crime type (Cambridge Crime Harm Index style).

The table ships in ``hotspots/data/harm_weights.toml`` with its source and method
written in the file; it is indicative, and a force's own table overrides it
(``path=`` or ``$HOTSPOTS_HARM_WEIGHTS``, same TOML layout).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..config import CRIME_TYPES
from ..errors import DataError

__all__ = ["MAX_WEIGHT", "MIN_WEIGHT", "HarmTable", "harm_table"]


@dataclass(frozen=True)
class HarmTable:
    """Weights (days) per police.uk type, with where they came from."""

    weights: dict = field(repr=False)
    source: str
    version: str
    path: str

    def of(self, crime_types) -> np.ndarray:
        """Weights for an array of crime types."""
        return np.array([self.weights[t] for t in crime_types], dtype="float64")

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "version": self.version,
            "path": self.path,
            "weights": dict(self.weights),
        }


#: The largest weight a harm table may give (days; the Cambridge index's most
#: harmful offence, homicide, is 5,475): nan, inf or 1e308 are not weights.
MAX_WEIGHT = 1e6
#: The smallest weight above 0 (days: about a second): 1e-200 underflowed Gi*'s
#: sums and took every hot spot away.
MIN_WEIGHT = 1e-5


def harm_table(path: str | Path | None = None) -> HarmTable:
    """Load the harm table: ``path``, else ``$HOTSPOTS_HARM_WEIGHTS``, else the default.

    Raises
    ------
    DataError
        When the file lacks a police.uk type, names an unknown one, or has a
        negative or non-numeric weight.
    """
    from ..limits import read_input

    path = path or os.environ.get("HOTSPOTS_HARM_WEIGHTS")
    if path:
        label = str(path)
        try:
            # never past the input cap (a device would fill the memory), never
            # a pipe (it would wait for ever)
            text = read_input(path, "the harm table").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text (byte {exc.start}); save it as UTF-8",
                            path=label) from None
    else:
        text = (
            resources.files("hotspots").joinpath("data/harm_weights.toml").read_text()
        )
        label = "hotspots/data/harm_weights.toml"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML ({exc})", path=label) from exc
    weights = doc.get("weights", {})
    unknown = sorted(set(weights) - set(CRIME_TYPES))
    missing = sorted(set(CRIME_TYPES) - set(weights))
    if unknown or missing:
        raise DataError(
            f"harm table must give every police.uk type once; unknown {unknown}, "
            f"missing {missing}",
            path=label,
        )
    for k, v in weights.items():
        if isinstance(v, bool) or not isinstance(v, int | float) \
                or not (v == 0 or MIN_WEIGHT <= v <= MAX_WEIGHT):
            raise DataError(
                f"weight for {k!r} must be 0 or a number from {MIN_WEIGHT:g} to "
                f"{MAX_WEIGHT:,.0f} (days), got {v!r}", path=label
            )
    return HarmTable(
        dict(weights), doc.get("source", "unstated"), str(doc.get("version", "")), label
    )
