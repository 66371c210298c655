"""Log-in for the app: a Flask session over the accounts of :mod:`hotspots.access`.

Every request but ``/login``, ``/logout`` and the favicon needs a session. Dash's
own endpoints answer 401 without one; pages redirect to the log-in form. The
session cookie is HttpOnly and SameSite=Lax; the form carries a CSRF token; a
client that fails too often is made to wait.
"""

from __future__ import annotations

import html
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import timedelta
from urllib.parse import urlparse

from flask import Flask, jsonify, redirect, request, session

from hotspots.access import Users

__all__ = ["current_user", "install_auth"]

OPEN_PATHS = ("/login", "/logout", "/_favicon.ico", "/favicon.ico")
MAX_FAILURES = 10
FAILURE_WINDOW_S = 300.0

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


def current_user() -> tuple[str | None, str | None]:
    """``(name, role)`` of the session, or ``(None, None)``."""
    return session.get("user"), session.get("role")


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after log-in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parsed = urlparse(target)
    return "/" if parsed.netloc or parsed.scheme else target


def install_auth(server: Flask, users: Users, secret_key: str | None = None,
                 session_hours: float = 12.0) -> None:
    """Add ``/login`` and ``/logout`` to ``server`` and guard every other path."""
    server.secret_key = (secret_key or os.environ.get("HOTSPOTS_SECRET_KEY")
                         or secrets.token_hex(32))
    server.config.update(SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SAMESITE="Lax",
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours))
    failures: dict[str, deque] = defaultdict(deque)
    lock = threading.Lock()

    def too_many(addr: str) -> bool:
        now = time.monotonic()
        with lock:
            q = failures[addr]
            while q and now - q[0] > FAILURE_WINDOW_S:
                q.popleft()
            return len(q) >= MAX_FAILURES

    def form(message: str = "", status: int = 200):
        token = session.get("csrf") or secrets.token_urlsafe(24)
        session["csrf"] = token
        msg = f'<p class="err" id="login-error">{html.escape(message)}</p>' \
            if message else ""
        nxt = html.escape(_safe_next(request.values.get("next")), quote=True)
        return _FORM.format(message=msg, csrf=token, next=nxt), status

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            return form()
        addr = request.remote_addr or "?"
        if too_many(addr):
            return form("Too many failed attempts; wait a few minutes.", 429)
        if not secrets.compare_digest(str(request.form.get("csrf", "")),
                                      str(session.get("csrf", ""))):
            return form("The form expired; please try again.", 400)
        user = users.authenticate(request.form.get("username", ""),
                                  request.form.get("password", ""))
        if user is None:
            with lock:
                failures[addr].append(time.monotonic())
            return form("Wrong user or password.", 401)
        session.clear()
        session.permanent = True
        session["user"], session["role"] = user.name, user.role
        return redirect(_safe_next(request.form.get("next")))

    @server.route("/logout")
    def logout():
        session.clear()
        return redirect("/login")

    @server.before_request
    def guard():
        path = request.path
        if path in OPEN_PATHS:
            return None
        name, role = current_user()
        if name and role and users.get(name) is not None \
                and users.get(name).role == role:
            return None
        if path.startswith("/_dash") or request.method != "GET":
            return jsonify({"error": "log in first"}), 401
        return redirect(f"/login?next={path}")

    @server.after_request
    def headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp
