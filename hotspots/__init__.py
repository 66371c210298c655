"""hotspots: where crime concentrates in London, and where to send patrols, cameras."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hotspots")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
