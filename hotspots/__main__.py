"""``python -m hotspots``: the command line (same as the ``hotspots`` script)."""

from .cli import main

if __name__ == "__main__":
    main()
