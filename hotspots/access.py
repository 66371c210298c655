"""Who may see what: users, roles and bcrypt-hashed passwords.

Two roles. An ``analyst`` sees everything the tool computes, offence points
included. A ``partner`` (council, community safety partnership) sees only the
aggregated, disclosure-controlled layers of :mod:`hotspots.report.share`.

Users live in a user file, one per line, ``name:role:bcrypt-hash`` (``#`` starts a
comment), or in the environment variable ``HOTSPOTS_USERS`` with the same entries
separated by commas. Only bcrypt hashes are accepted: nothing ships with a default
password, and a plain-text password in a user file is refused.

A running app follows its user file (:class:`LiveUsers`): an account removed or
changed there (``hotspots deluser``, ``hotspots adduser``) is out at once, without a
restart. An unknown user name costs the same bcrypt work as a real one (the dummy
hash has the accounts' cost), so answer times do not tell names apart.

Examples
--------
>>> users = Users.from_lines(["ana:analyst:" + hash_password("correct horse", 4)])
>>> users.authenticate("ana", "correct horse").role
'analyst'
>>> users.authenticate("ana", "wrong") is None
True
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
from platformdirs import user_config_dir

from .errors import ParameterError, check_choice
from .store import atomic_file

__all__ = [
    "COOKIE_POLICIES",
    "DEFAULT_ROUNDS",
    "MAX_PASSWORD_BYTES",
    "ROLES",
    "LiveUsers",
    "User",
    "Users",
    "add_user",
    "bcrypt_cost",
    "check_account",
    "cookie_policy",
    "default_users_path",
    "has_control_characters",
    "hash_password",
    "load_users",
    "remove_user",
    "trusted_proxy_count",
    "verify_password",
]

log = logging.getLogger(__name__)

#: When the app's session cookie is ``Secure``: over HTTPS only (auto), or always
#: or never.
COOKIE_POLICIES = ("auto", "always", "never")


def cookie_policy(secure: str | None = None) -> str:
    """The cookie policy given, else ``$HOTSPOTS_SECURE_COOKIES``, else auto
    (checked: one of :data:`COOKIE_POLICIES`)."""
    policy = (secure or os.environ.get("HOTSPOTS_SECURE_COOKIES") or "auto")
    policy = policy.strip().lower()
    check_choice("secure cookies", policy, COOKIE_POLICIES)
    return policy


def trusted_proxy_count(trusted_proxies: int | None = None) -> int:
    """Reverse proxies whose forwarded headers are believed: the number given,
    else ``$HOTSPOTS_TRUSTED_PROXIES``, else 0 (checked: a whole number ≥ 0)."""
    raw = (trusted_proxies if trusted_proxies is not None
           else os.environ.get("HOTSPOTS_TRUSTED_PROXIES", "0"))
    try:
        n = int(str(raw).strip() or 0)
    except ValueError:
        n = -1
    if n < 0:
        raise ParameterError(
            f"'trusted proxies' needs to be a whole number ≥ 0. {raw!r} was given "
            "instead.")
    return n


#: The roles of the app, most to least privileged.
ROLES = ("analyst", "partner")
#: Shortest password :func:`add_user` accepts.
MIN_PASSWORD = 10
#: bcrypt reads at most 72 bytes of a password; longer ones are refused, not cut.
MAX_PASSWORD_BYTES = 72
#: bcrypt cost (log2 rounds) of the hashes :func:`add_user` writes.
DEFAULT_ROUNDS = 12
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_HASH = re.compile(r"^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$")


def bcrypt_cost(hashed: str) -> int:
    """The cost (log2 rounds) of a bcrypt hash.

    >>> bcrypt_cost("$2b$12$" + "a" * 53)
    12
    """
    try:
        return int(hashed.split("$")[2])
    except (AttributeError, IndexError, ValueError):
        raise ParameterError(f"not a bcrypt hash: {str(hashed)[:7]!r}…") from None


@functools.lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    """A hash to check against when the user is unknown, at the accounts' cost, so
    an unknown name costs the same bcrypt work as a real one."""
    return bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds)).decode()


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """A bcrypt hash of ``password`` (``rounds`` is the log2 work factor)."""
    if not isinstance(password, str) or not password:
        raise ParameterError("'password' needs to be a non-empty string.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ParameterError(
            f"'password' needs at most {MAX_PASSWORD_BYTES} bytes (bcrypt reads no "
            "more).")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches the bcrypt ``hashed``."""
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class User:
    """One account: a name, a role and a bcrypt hash (never a password)."""

    name: str
    role: str
    password_hash: str = ""

    def line(self) -> str:
        return f"{self.name}:{self.role}:{self.password_hash}"


@dataclass(frozen=True)
class Users:
    """The accounts the app accepts (immutable; build with the ``from_*`` helpers).

    ``path`` is the user file they were read from (None for ``HOTSPOTS_USERS`` or
    accounts made in code); :class:`LiveUsers` re-reads it when it changes.
    """

    accounts: Mapping[str, User]
    path: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.accounts)

    def get(self, name: str) -> User | None:
        return self.accounts.get(name)

    @property
    def cost(self) -> int:
        """The highest bcrypt cost of the accounts (:data:`DEFAULT_ROUNDS` if none)."""
        costs = [bcrypt_cost(u.password_hash) for u in self.accounts.values()
                 if u.password_hash]
        return max(costs, default=DEFAULT_ROUNDS)

    @property
    def dummy_hash(self) -> str:
        """What an unknown name is checked against: a hash of the same cost."""
        return _dummy_hash(self.cost)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the name and password match, else None.

        An unknown name runs one bcrypt check of the same cost as a known one.
        """
        user = self.accounts.get(name or "")
        hashed = user.password_hash if user is not None else self.dummy_hash
        ok = verify_password(password or "", hashed)
        return user if user is not None and ok else None

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str = "users") -> Users:
        """Parse ``name:role:hash`` entries (blank lines and ``#`` comments skipped)."""
        accounts: dict[str, User] = {}
        for n, raw in enumerate(lines, 1):
            text = raw.split("#", 1)[0].strip()
            if not text:
                continue
            user = _parse(text, f"{source}, entry {n}")
            accounts[user.name] = user
        return cls(accounts)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, tuple[str, str]]) -> Users:
        """From ``{name: (role, password)}``, hashing the passwords (tests, tools)."""
        return cls({
            name: User(name, role, hash_password(pw, rounds=4))
            for name, (role, pw) in mapping.items()
            if check_account(name, role) is None
        })


def check_account(name: str, role: str) -> None:
    """Raise :class:`ParameterError` unless ``name`` and ``role`` are acceptable."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ParameterError(
            f"'user' needs letters, digits or _.@- (at most 64). {name!r} was given "
            "instead.")
    check_choice("role", role, ROLES)


def _parse(text: str, where: str) -> User:
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ParameterError(f"{where}: needs name:role:bcrypt-hash")
    name, role, hashed = (p.strip() for p in parts)
    check_account(name, role)
    if not _HASH.match(hashed):
        raise ParameterError(
            f"{where}: the password of {name!r} is not a bcrypt hash; store hashes "
            "only (hotspots adduser writes them)")
    return User(name, role, hashed)


def default_users_path() -> Path:
    """``$HOTSPOTS_USERS_FILE``, else ``users.txt`` in the user config folder."""
    env = os.environ.get("HOTSPOTS_USERS_FILE")
    if env:
        return Path(env).expanduser()
    return Path(user_config_dir("hotspots")) / "users.txt"


def load_users(path: Path | str | None = None) -> Users:
    """The accounts from ``path``, else ``$HOTSPOTS_USERS``, else the default file.

    Raises
    ------
    ParameterError
        When no account is configured anywhere (there is no default account), or
        an entry is malformed.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ParameterError(f"no user file at {p}")
        return _nonempty(_read_file(p), str(p))
    env = os.environ.get("HOTSPOTS_USERS")
    if env:
        return _nonempty(Users.from_lines(env.split(","), "HOTSPOTS_USERS"),
                         "HOTSPOTS_USERS")
    p = default_users_path()
    if p.is_file():
        return _nonempty(_read_file(p), str(p))
    raise ParameterError(
        "no users are configured: there is no default account. Create one with "
        "'hotspots adduser NAME --role analyst' (or set HOTSPOTS_USERS_FILE / "
        "HOTSPOTS_USERS)")


def _read_file(p: Path) -> Users:
    users = Users.from_lines(_user_lines(p), str(p))
    return Users(users.accounts, path=p)


def _user_lines(path: Path) -> list[str]:
    """A user file's lines (none when there is no file); one line of error for
    one that is not UTF-8 text (a wrong path given, a damaged file)."""
    if path.is_dir():
        raise ParameterError(f"{path}: is a folder, not a user file")
    if not path.is_file():
        return []
    try:
        return path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{path}: not a user file (not UTF-8 text, byte "
                             f"{exc.start})") from None


def has_control_characters(text: str) -> bool:
    r"""Whether ``text`` holds an ASCII control character (a NUL, a tab, a line
    break, an escape, DEL): never in a password or a page address.

    >>> has_control_characters("a long passphrase"), has_control_characters("/\r\n")
    (False, True)
    """
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _nonempty(users: Users, where: str) -> Users:
    if not len(users):
        raise ParameterError(f"{where} holds no accounts")
    return users


def add_user(path: Path | str, name: str, role: str, password: str,
             rounds: int = DEFAULT_ROUNDS) -> Path:
    """Add or replace ``name`` in the user file at ``path`` (atomic; mode 0600).

    Replacing an account (a new password or role) ends its sessions in a running
    app at its next request.
    """
    check_account(name, role)
    if len(password or "") < MIN_PASSWORD:
        raise ParameterError(
            f"'password' needs at least {MIN_PASSWORD} characters.")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not text, read from a pipe
        raise ParameterError("'password' is not UTF-8 text (bytes that are not "
                             "characters were given).") from None
    if has_control_characters(password):  # NULs, escapes
        raise ParameterError("'password' holds control characters (a NUL, an "
                             "escape or a tab): type it, or give it as text.")
    path = Path(path).expanduser()
    lines = _user_lines(path) if path.is_file() else [
        "# hotspots users: name:role:bcrypt-hash (roles: analyst, partner)"]
    kept = [ln for ln in lines if ln.split(":", 1)[0].strip() != name]
    kept.append(User(name, role, hash_password(password, rounds)).line())
    _write_lines(path, kept)
    return path


def remove_user(path: Path | str, name: str) -> Path:
    """Remove ``name`` from the user file at ``path`` (atomic).

    A running app reading that file logs the user out at their next request.

    Raises
    ------
    ParameterError
        When the file has no such account.
    """
    path = Path(path).expanduser()
    lines = _user_lines(path)
    kept = [ln for ln in lines if ln.split(":", 1)[0].strip() != name]
    if len(kept) == len(lines):
        raise ParameterError(f"no account {name!r} in {path}")
    _write_lines(path, kept)
    return path


def _write_lines(path: Path, lines: list[str]) -> None:
    with atomic_file(path, ".txt", private=True) as tmp:  # password hashes
        tmp.write_text("\n".join(lines) + "\n")


class LiveUsers:
    """Accounts that follow their user file: re-read whenever the file changes.

    Each call to :meth:`current` compares the file's identity (inode, size,
    modification and change times) with the last read, so an account removed or
    changed on disk is gone from the next request on. A file that disappears or
    stops parsing gives no accounts (fail closed) until it is fixed.
    """

    def __init__(self, users: Users):
        self._users = users
        self._path = users.path
        self._sig = _signature(self._path) if self._path is not None else None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path | None:
        return self._path

    def current(self) -> Users:
        """The accounts as the user file holds them now."""
        if self._path is None:
            return self._users
        sig = _signature(self._path)
        if sig == self._sig:
            return self._users
        with self._lock:
            if sig != self._sig:
                self._users = self._reload()
                self._sig = sig
        return self._users

    def _reload(self) -> Users:
        try:
            return _read_file(self._path)
        except (OSError, UnicodeDecodeError, ParameterError) as exc:
            log.warning("user file %s unreadable (%s): no account can log in until "
                        "it is fixed", self._path, exc)
            return Users({}, path=self._path)


def _signature(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
