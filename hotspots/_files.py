"""Cache files: written whole or not at all, and never an error.

What the caches keep (boundaries read once, grid polygons and neighbours) can always
be made again, so a read-only or full disk only makes the next run slower.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["CACHE_READ_ERRORS", "keep_cache_file", "ordinary_mode", "special_kind"]

#: What reading a damaged cache file raises (cut short by a power loss, emptied,
#: overwritten): any of them is a miss, and the file is made again. numpy's
#: ``.npy`` reader raises EOFError on an empty file, its ``.npz`` BadZipFile.
CACHE_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)

def special_kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is neither a regular file nor a
    folder (a FIFO, a socket, a device), in words; None for those two.

    >>> special_kind(stat.S_IFIFO), special_kind(stat.S_IFREG)
    ('a named pipe (FIFO)', None)
    """
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


#: The process's umask, read once (setting it is the only way to read it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def ordinary_mode(path: Path | str, directory: bool = False) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (0600) or a folder made by
    :func:`tempfile.mkdtemp` (0700) the mode an ordinary ``open`` or ``mkdir``
    would (0666 or 0777 less the umask), so outputs are readable as others are."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_UMASK)


def keep_cache_file(path: Path | str, write: Callable[[str], object]) -> bool:
    """``write(tmp)`` beside ``path``, then move it there; False if it failed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a" / "b.txt"
    >>> keep_cache_file(p, lambda tmp: pathlib.Path(tmp).write_text("x")), p.read_text()
    (True, 'x')
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            write(tmp)
            ordinary_mode(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return False
    return True
