"""Log-in for the app: server-side sessions over the accounts of :mod:`hotspots.access`.

Every request but ``/login``, ``/logout`` and the favicon needs a session. Dash's
own endpoints answer 401 without one; pages redirect to the log-in form.
``/logout`` logs out on a POST from this site only (the app's button); a GET shows
that button.

Sessions live on the server (:class:`SessionStore`); the signed cookie holds only a
random session id. Logging out deletes the session, so an old cookie reads nothing
afterwards; an account removed from (or changed in) the user file ends its sessions
at the next request, without a restart (:class:`hotspots.access.LiveUsers`).
Sessions last ``session_hours`` from log-in and end when the server restarts.

The cookie is HttpOnly and SameSite=Lax, and ``Secure`` when the app is reached
over HTTPS: directly, or behind a trusted proxy that says so in
``X-Forwarded-Proto`` (``HOTSPOTS_SECURE_COOKIES`` = ``auto``, the default;
``always`` or ``never`` force it). ``HOTSPOTS_TRUSTED_PROXIES`` = N trusts the
last N proxies' ``X-Forwarded-For``/``-Proto`` for the client address and scheme
(default 0: the socket's address, so a client cannot pick its own address for
the rate limit, nor its scheme).

The form carries a CSRF token, and a log-in without the session's token (a
cross-site form carries no cookie) is refused. Failed log-ins are limited per
client address and per user name (:class:`RateLimiter`, 5 in 5 minutes by
default): beyond that the form answers 429 and says when to try again, without
checking the password. A user name's limit holds back only the addresses that
failed for it, so failing on purpose cannot lock its user out. Request bodies
over ``HOTSPOTS_MAX_REQUEST_MB`` (:mod:`hotspots.limits`) get 413.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlparse

from flask import Flask, current_app, g, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from hotspots.access import (
    COOKIE_POLICIES,
    LiveUsers,
    User,
    Users,
    cookie_policy,
    has_control_characters,
    trusted_proxy_count,
)
from hotspots.limits import Limits

__all__ = [
    "COOKIE_POLICIES",
    "FAILURE_WINDOW_S",
    "MAX_FAILURES",
    "Auth",
    "RateLimiter",
    "SessionStore",
    "current_user",
    "install_auth",
]

OPEN_PATHS = ("/login", "/logout", "/_favicon.ico", "/favicon.ico")
#: Failed log-ins allowed per address, and per user name, within the window.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
#: ``Secure`` cookie policies (``HOTSPOTS_SECURE_COOKIES``).
_EXT = "hotspots_auth"

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hotspots: log in</title>
<style>body{{font:15px system-ui,sans-serif;background:#f3f4f6;display:flex;
justify-content:center;padding-top:10vh}}form{{background:#fff;padding:24px 28px;
border:1px solid #ccc;border-radius:6px;min-width:280px}}label{{display:block;
margin-top:10px}}input{{width:100%;padding:6px;box-sizing:border-box}}
button{{margin-top:16px;padding:6px 16px}}.err{{color:#b00020}}</style></head>
<body><form method="post" action="/login" id="login-form">
<h2>hotspots</h2><p>Log in to the London hot spot map.</p>{message}
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="username">User</label>
<input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit" id="login-button">Log in</button></form></body></html>"""

_LOGOUT_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hotspots: log out</title>
<style>body{font:15px system-ui,sans-serif;background:#f3f4f6;display:flex;
justify-content:center;padding-top:10vh}form{background:#fff;padding:24px 28px;
border:1px solid #ccc;border-radius:6px;min-width:280px}
button{margin-top:16px;padding:6px 16px}</style></head>
<body><form method="post" action="/logout" id="logout-form">
<h2>hotspots</h2><p>Log out of the London hot spot map?</p>
<button type="submit" id="logout-button">Log out</button>
<p><a href="/">Back to the map</a></p></form></body></html>"""


def _same_origin() -> bool:
    """Whether a POST came from this site: its ``Origin`` (else ``Referer``), when
    the browser sent one, names this host (a form elsewhere cannot log a user out;
    the SameSite=Lax cookie already keeps a cross-site POST from carrying it)."""
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if not sent or sent == "null":
        return not sent
    return urlparse(sent).netloc == request.host


# -- sessions --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Session:
    name: str
    role: str
    fingerprint: str  # of the password hash: a new password ends old sessions
    expires: float


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()


class SessionStore:
    """Sessions kept on the server, keyed by a random id (thread-safe).

    Parameters
    ----------
    lifetime_s : float
        Seconds a session lasts from log-in.
    clock : callable
        Seconds now (``time.monotonic``; tests pass a fake clock).
    """

    def __init__(self, lifetime_s: float, clock: Callable[[], float] = time.monotonic):
        self.lifetime_s = float(lifetime_s)
        self.clock = clock
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, user: User) -> str:
        """A new session for ``user``; returns its id."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._purge(now)
            self._sessions[sid] = _Session(user.name, user.role, _fingerprint(user),
                                           now + self.lifetime_s)
        return sid

    def get(self, sid: str | None) -> _Session | None:
        """The live session ``sid`` (None when unknown, revoked or expired)."""
        if not sid:
            return None
        with self._lock:
            s = self._sessions.get(sid)
            if s is not None and self.clock() >= s.expires:
                del self._sessions[sid]
                s = None
        return s

    def revoke(self, sid: str | None) -> None:
        """End session ``sid`` (log-out)."""
        with self._lock:
            self._sessions.pop(sid or "", None)

    def revoke_user(self, name: str) -> int:
        """End every session of ``name``; returns how many there were."""
        with self._lock:
            gone = [sid for sid, s in self._sessions.items() if s.name == name]
            for sid in gone:
                del self._sessions[sid]
        return len(gone)

    def _purge(self, now: float) -> None:
        for sid in [sid for sid, s in self._sessions.items() if now >= s.expires]:
            del self._sessions[sid]


# -- rate limit ------------------------------------------------------------------------
class RateLimiter:
    """Failed log-ins counted per client address and per user name (thread-safe).

    An address with ``limit`` failures within ``window_s`` seconds waits, whatever
    name it tries. A user name with ``limit`` failures (from anywhere) makes every
    address that has failed for that name wait; an address with no failure for it
    is still checked, so nobody can lock a user out by failing on purpose, and a
    guesser spread over many addresses gets one try a window from each new one.

    Each try is reserved before its password is checked (:meth:`attempt` counts
    it as a failure in advance, under one lock), so parallel requests cannot all
    pass the check at once; :meth:`succeeded` takes the reservation back.

    Examples
    --------
    >>> t = [0.0]
    >>> rl = RateLimiter(limit=2, window_s=60, clock=lambda: t[0])
    >>> rl.attempt("10.0.0.1", "ana"), rl.attempt("10.0.0.1", "ana")
    (0.0, 0.0)
    >>> rl.attempt("10.0.0.1", "ana")  # this address waits
    60.0
    >>> rl.attempt("10.0.0.2", "ana")  # a new address is still checked
    0.0
    >>> t[0] = 61.0
    >>> rl.attempt("10.0.0.1", "ana")
    0.0
    """

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.limit = int(limit)
        self.window_s = float(window_s)
        self.clock = clock
        self.max_keys = int(max_keys)
        self._failures: dict[tuple, deque] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(addr: str, user: str) -> tuple[tuple, tuple, tuple]:
        name = user.strip().lower()
        return ("addr", addr), ("pair", addr, name), ("user", name)

    def attempt(self, addr: str, user: str) -> float:
        """Reserve a try of ``user`` from ``addr``: 0.0 (the try counted as a
        failure until :meth:`succeeded`), or the seconds until it may try."""
        now = self.clock()
        by_addr, pair, by_user = keys = self._keys(addr, user)
        with self._lock:
            wait = self._wait(by_addr, now)
            if self._recent(pair, now) is not None:
                wait = max(wait, self._wait(pair, now), self._wait(by_user, now))
            if wait > 0:
                return wait
            if len(self._failures) >= self.max_keys:
                for key in list(self._failures):
                    self._recent(key, now)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
        return 0.0

    def succeeded(self, addr: str, user: str) -> None:
        """The reserved try was right: forget the address's failures for this
        user and the reservation (earlier failures elsewhere still count)."""
        by_addr, pair, by_user = self._keys(addr, user)
        with self._lock:
            self._failures.pop(pair, None)
            for key in (by_addr, by_user):
                q = self._failures.get(key)
                if q:  # the newest stamp: ours, or one as recent
                    q.pop()
                    if not q:
                        del self._failures[key]

    def _wait(self, key: tuple, now: float) -> float:
        q = self._recent(key, now)
        if q is None or len(q) < self.limit:
            return 0.0
        return q[-self.limit] + self.window_s - now

    def _recent(self, key: tuple, now: float) -> deque | None:
        q = self._failures.get(key)
        if q is None:
            return None
        while q and now - q[0] >= self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
            return None
        return q


# -- the installed log-in --------------------------------------------------------------
@dataclass
class Auth:
    """What :func:`install_auth` put on the server (``server.extensions``)."""

    users: LiveUsers
    sessions: SessionStore
    limiter: RateLimiter
    secure: str

    def user_of_request(self) -> User | None:
        """The account of this request's session, after every check (else None).

        A session whose account is gone from the user file, or whose role or
        password changed, is ended here.
        """
        sid = session.get("sid")
        s = self.sessions.get(sid)
        if s is None:
            return None
        user = self.users.current().get(s.name)
        if user is None or user.role != s.role or _fingerprint(user) != s.fingerprint:
            self.sessions.revoke_user(s.name)
            return None
        return user


def _https() -> bool:
    """Over HTTPS: the socket's scheme, or the one the trusted proxies gave
    (``ProxyFix`` sets it; an untrusted ``X-Forwarded-Proto`` is not believed)."""
    return request.is_secure


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, ``Secure`` as the policy says (auto: over HTTPS)."""

    def __init__(self, policy: str):
        self.policy = policy

    def get_cookie_secure(self, app) -> bool:
        if self.policy == "always":
            return True
        if self.policy == "never":
            return False
        return _https()


def current_user() -> tuple[str | None, str | None]:
    """``(name, role)`` of the request's live session, or ``(None, None)``."""
    cached = g.get("hotspots_user")
    if cached is not None:
        return cached
    auth = current_app.extensions.get(_EXT)
    user = auth.user_of_request() if auth is not None else None
    g.hotspots_user = (user.name, user.role) if user else (None, None)
    return g.hotspots_user


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after log-in (no control
    characters: a line break would end the ``Location`` header)."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or has_control_characters(target)):
        return "/"
    parsed = urlparse(target)
    return "/" if parsed.netloc or parsed.scheme else target


def install_auth(server: Flask, users: Users, secret_key: str | None = None,
                 session_hours: float = 12.0, *, secure: str | None = None,
                 trusted_proxies: int | None = None,
                 clock: Callable[[], float] | None = None,
                 max_failures: int = MAX_FAILURES,
                 failure_window_s: float = FAILURE_WINDOW_S) -> Auth:
    """Add ``/login`` and ``/logout`` to ``server`` and guard every other path.

    Parameters
    ----------
    server : Flask
    users : Users
        The accounts; when read from a user file (``users.path``), the file is
        followed while the app runs.
    secret_key : str, optional
        Cookie signing key (default ``$HOTSPOTS_SECRET_KEY``, else random).
    session_hours : float
        How long a session lasts from log-in.
    secure : {'auto', 'always', 'never'}, optional
        ``Secure`` cookies (default ``$HOTSPOTS_SECURE_COOKIES``, else auto: when
        the request came over HTTPS, directly or per the trusted proxies'
        ``X-Forwarded-Proto``).
    trusted_proxies : int, optional
        Reverse proxies in front of the app whose ``X-Forwarded-For``/``-Proto``
        are believed (default ``$HOTSPOTS_TRUSTED_PROXIES``, else 0).
    clock : callable, optional
        Seconds now for sessions and rate limits (tests pass a fake clock).
    max_failures, failure_window_s :
        The log-in rate limit, per user name and per client address.

    Returns
    -------
    Auth
        Also at ``server.extensions["hotspots_auth"]``.
    """
    policy = cookie_policy(secure)
    proxies = trusted_proxy_count(trusted_proxies)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=proxies, x_proto=proxies)
    clock = clock or time.monotonic
    server.secret_key = (secret_key or os.environ.get("HOTSPOTS_SECRET_KEY")
                         or secrets.token_hex(32))
    server.session_interface = _SessionCookies(policy)
    server.config.update(SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=policy == "always",
                         # set at log-in only: a late request of an old page must
                         # not send its (dead) cookie back over a newer log-in's
                         SESSION_REFRESH_EACH_REQUEST=False,
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
                         # a larger body is refused (413) before it is parsed
                         MAX_CONTENT_LENGTH=Limits.from_env().max_request_bytes)
    live = LiveUsers(users)
    live.current().dummy_hash  # noqa: B018 - made now, not at the first unknown name
    auth = Auth(live, SessionStore(session_hours * 3600.0, clock),
                RateLimiter(max_failures, failure_window_s, clock), policy)
    server.extensions[_EXT] = auth

    def form(message: str = "", status: int = 200, headers: dict | None = None,
             note: str = ""):
        token = session.get("csrf") or secrets.token_urlsafe(24)
        session["csrf"] = token
        msg = f'<p class="err" id="login-error">{html.escape(message)}</p>' \
            if message else ""
        if note:
            msg += (f'<p id="login-note">{html.escape(note)} '
                    '<a href="/">Back to the map</a></p>')
        nxt = html.escape(_safe_next(request.values.get("next")), quote=True)
        return _FORM.format(message=msg, csrf=token, next=nxt), status, headers or {}

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            user = auth.user_of_request()
            if user is not None:  # already in (Back, a bookmark): say so
                return form(note=f"You are logged in as {user.name} ({user.role}): "
                                 "log in below as another user, or go back to the "
                                 "map.")
            return form()
        token = str(session.get("csrf", ""))
        if not token or not secrets.compare_digest(
                str(request.form.get("csrf", "")), token):
            # no token in the session is no form of ours (a cross-site POST
            # carries no SameSite=Lax cookie): an empty token matches nothing
            return form("The form expired; please try again.", 400)
        name = str(request.form.get("username", ""))
        addr = request.remote_addr or "?"
        wait = auth.limiter.attempt(addr, name)
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            return form(f"Too many failed log-in attempts for this user or from this "
                        f"address: try again in {minutes} minute"
                        f"{'s' if minutes != 1 else ''}.", 429,
                        {"Retry-After": str(math.ceil(wait))})
        user = auth.users.current().authenticate(
            name, str(request.form.get("password", "")))
        if user is None:
            return form("Wrong user or password.", 401)
        auth.limiter.succeeded(addr, name)
        auth.sessions.revoke(session.get("sid"))
        session.clear()
        session.permanent = True
        session["sid"] = auth.sessions.create(user)
        return redirect(_safe_next(request.form.get("next")))

    @server.route("/logout", methods=["GET", "POST"])
    def logout():
        # only a POST from this site logs out: a link or an image elsewhere that
        # names /logout (a GET) gets the button, not the deed
        if request.method == "GET":
            return _LOGOUT_FORM, 200
        if not _same_origin():
            return jsonify({"error": "log-out from another site refused"}), 403
        auth.sessions.revoke(session.get("sid"))
        session.clear()
        return redirect("/login")

    @server.before_request
    def guard():
        path = request.path
        if path in OPEN_PATHS:
            return None
        user = auth.user_of_request()
        if user is not None:
            g.hotspots_user = (user.name, user.role)
            return None
        # the cookie is left as it is: a request of a page still loading could
        # otherwise overwrite the cookie of a newer log-in (its id is dead anyway)
        if path.startswith("/_dash") or request.method != "GET":
            return jsonify({"error": "log in first"}), 401
        return redirect(f"/login?next={quote(path, safe='/')}")

    @server.after_request
    def headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path in ("/login", "/logout"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    return auth


