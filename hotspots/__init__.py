"""hotspots: where crime concentrates in London, and where to send patrols, cameras."""

from ._version import __version__

__all__ = ["__version__"]
