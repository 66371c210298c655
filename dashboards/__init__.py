"""The hotspots Dash app (``hotspots serve``): ``create_app`` builds it."""

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """Build the app; see :func:`dashboards.app.create_app`."""
    from .app import create_app as _create

    return _create(*args, **kwargs)
