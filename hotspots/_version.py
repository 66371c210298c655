"""The version of hotspots (read by the build and at run time, without
``importlib.metadata``, whose import costs a fresh process 40 ms)."""

__version__ = "0.1.0"
