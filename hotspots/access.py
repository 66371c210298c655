"""Who may see what: users, roles and bcrypt-hashed passwords.

Two roles. An ``analyst`` sees everything the tool computes, offence points
included. A ``partner`` (council, community safety partnership) sees only the
aggregated, disclosure-controlled layers of :mod:`hotspots.report.share`.

Users live in a user file, one per line, ``name:role:bcrypt-hash`` (``#`` starts a
comment), or in the environment variable ``HOTSPOTS_USERS`` with the same entries
separated by commas. Only bcrypt hashes are accepted: nothing ships with a default
password, and a plain-text password in a user file is refused.

Examples
--------
>>> users = Users.from_lines(["ana:analyst:" + hash_password("correct horse", 4)])
>>> users.authenticate("ana", "correct horse").role
'analyst'
>>> users.authenticate("ana", "wrong") is None
True
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from platformdirs import user_config_dir

from .errors import ParameterError, check_choice
from .store import atomic_file

__all__ = [
    "ROLES",
    "User",
    "Users",
    "add_user",
    "default_users_path",
    "hash_password",
    "load_users",
    "verify_password",
]

#: The roles of the app, most to least privileged.
ROLES = ("analyst", "partner")
#: Shortest password :func:`add_user` accepts.
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_HASH = re.compile(r"^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$")
# compared against when the user is unknown, so timing does not tell names apart
_DUMMY = bcrypt.hashpw(b"not a password", bcrypt.gensalt(4)).decode()


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` (``rounds`` is the log2 work factor)."""
    if not isinstance(password, str) or not password:
        raise ParameterError("'password' needs to be a non-empty string.")
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
    """The accounts the app accepts (immutable; build with the ``from_*`` helpers)."""

    accounts: Mapping[str, User]

    def __len__(self) -> int:
        return len(self.accounts)

    def get(self, name: str) -> User | None:
        return self.accounts.get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the name and password match, else None."""
        user = self.accounts.get(name or "")
        if user is None:
            verify_password(password or "", _DUMMY)
            return None
        return user if verify_password(password or "", user.password_hash) else None

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
            if _check_user(name, role) is None
        })


def _check_user(name: str, role: str) -> None:
    if not _NAME.match(name or ""):
        raise ParameterError(
            f"'user' needs letters, digits or _.@- (at most 64). {name!r} was given "
            "instead.")
    check_choice("role", role, ROLES)


def _parse(text: str, where: str) -> User:
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ParameterError(f"{where}: needs name:role:bcrypt-hash")
    name, role, hashed = (p.strip() for p in parts)
    _check_user(name, role)
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
        return _nonempty(Users.from_lines(p.read_text().splitlines(), str(p)), str(p))
    env = os.environ.get("HOTSPOTS_USERS")
    if env:
        return _nonempty(Users.from_lines(env.split(","), "HOTSPOTS_USERS"),
                         "HOTSPOTS_USERS")
    p = default_users_path()
    if p.is_file():
        return _nonempty(Users.from_lines(p.read_text().splitlines(), str(p)), str(p))
    raise ParameterError(
        "no users are configured: there is no default account. Create one with "
        "'hotspots adduser NAME --role analyst' (or set HOTSPOTS_USERS_FILE / "
        "HOTSPOTS_USERS)")


def _nonempty(users: Users, where: str) -> Users:
    if not len(users):
        raise ParameterError(f"{where} holds no accounts")
    return users


def add_user(path: Path | str, name: str, role: str, password: str,
             rounds: int = 12) -> Path:
    """Add or replace ``name`` in the user file at ``path`` (atomic; mode 0600)."""
    _check_user(name, role)
    if len(password or "") < MIN_PASSWORD:
        raise ParameterError(
            f"'password' needs at least {MIN_PASSWORD} characters.")
    path = Path(path).expanduser()
    lines = path.read_text().splitlines() if path.is_file() else [
        "# hotspots users: name:role:bcrypt-hash (roles: analyst, partner)"]
    kept = [ln for ln in lines if ln.split(":", 1)[0].strip() != name]
    kept.append(User(name, role, hash_password(password, rounds)).line())
    with atomic_file(path, ".txt") as tmp:
        tmp.write_text("\n".join(kept) + "\n")
        os.chmod(tmp, 0o600)
    return path
