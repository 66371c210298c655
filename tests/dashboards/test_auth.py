"""Accounts (hotspots.access) and the app's log-in, through Flask's test client."""

from __future__ import annotations

import json
import re
import stat

import pytest

from hotspots.access import (
    User,
    Users,
    add_user,
    bcrypt_cost,
    hash_password,
    load_users,
    remove_user,
    verify_password,
)
from hotspots.errors import ParameterError
from tests.dashboards.conftest import PASSWORDS


def test_hash_and_verify():
    h = hash_password("a long passphrase", rounds=4)
    assert h.startswith("$2") and "a long passphrase" not in h
    assert verify_password("a long passphrase", h)
    assert not verify_password("a long passphrasE", h)
    assert not verify_password("x", "not a hash")


def test_user_file_round_trip(tmp_path):
    path = tmp_path / "users.txt"
    add_user(path, "ana", "analyst", "first password", rounds=4)
    add_user(path, "pat", "partner", "second password", rounds=4)
    add_user(path, "ana", "analyst", "changed password", rounds=4)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = load_users(path)
    assert len(users) == 2
    assert users.authenticate("ana", "changed password").role == "analyst"
    assert users.authenticate("ana", "first password") is None
    assert users.authenticate("nobody", "x") is None
    assert "changed password" not in path.read_text()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ana:analyst:plaintext-password", "not a bcrypt hash"),
        ("ana:admin:" + "$2b$04$" + "a" * 53, "'role' needs to be one of"),
        ("an a:analyst:" + "$2b$04$" + "a" * 53, "'user' needs letters"),
        ("just-a-name", "needs name:role:bcrypt-hash"),
    ],
    ids=["plaintext", "unknown-role", "bad-name", "no-fields"],
)
def test_bad_user_entries_are_refused(line, message):
    with pytest.raises(ParameterError, match=message):
        Users.from_lines([line])


def test_a_user_file_that_is_not_text_is_one_line(tmp_path):
    """A wrong path given as the user file (a binary file) was an internal error
    (UnicodeDecodeError) in serve, adduser and deluser; a password of bytes
    that are not text one (UnicodeEncodeError)."""
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    for call in (lambda: load_users(binary),
                 lambda: remove_user(binary, "ana"),
                 lambda: add_user(binary, "ana", "analyst", "a long passphrase", 4)):
        with pytest.raises(ParameterError, match=r"photo.jpg: not a user file \(not "
                                                 r"UTF-8 text, byte 0\)"):
            call()
    with pytest.raises(ParameterError, match="is a folder, not a user file"):
        remove_user(tmp_path, "ana")  # it had said 'no account ana in' the folder
    with pytest.raises(ParameterError, match="'password' is not UTF-8 text"):
        add_user(tmp_path / "u.txt", "ana", "analyst",
                 b"ab\xffcdefghij".decode("utf-8", "surrogateescape"), 4)
    for bad in ("\x00" * 12, "long enough\x1b[2J", "tab\tseparated pass"):
        with pytest.raises(ParameterError, match="holds control characters"):
            add_user(tmp_path / "u.txt", "ana", "analyst", bad, 4)
    assert not (tmp_path / "u.txt").exists()


def test_no_default_account(tmp_path, monkeypatch):
    monkeypatch.delenv("HOTSPOTS_USERS", raising=False)
    monkeypatch.setenv("HOTSPOTS_USERS_FILE", str(tmp_path / "absent.txt"))
    with pytest.raises(ParameterError, match="there is no default account"):
        load_users()
    with pytest.raises(ParameterError, match="'password' needs at least 10"):
        add_user(tmp_path / "u.txt", "ana", "analyst", "short")


def test_users_from_the_environment(monkeypatch):
    a = "ana:analyst:" + hash_password("password one", 4)
    p = "pat:partner:" + hash_password("password two", 4)
    monkeypatch.setenv("HOTSPOTS_USERS", f"{a},{p}")
    users = load_users()
    assert users.authenticate("pat", "password two").role == "partner"


def test_passwords_bcrypt_cannot_read_are_refused(tmp_path):
    with pytest.raises(ParameterError, match="'password' needs at most 72 bytes"):
        add_user(tmp_path / "u.txt", "ana", "analyst", "é" * 40, rounds=4)


# -- constant time: an unknown name costs the same bcrypt work -------------------------
@pytest.fixture
def bcrypt_costs(monkeypatch):
    """The cost of every hash bcrypt checks a password against, in order."""
    import hotspots.access as access

    costs: list[int] = []
    real = access.bcrypt.checkpw

    def checkpw(password, hashed):
        costs.append(bcrypt_cost(hashed.decode()))
        return real(password, hashed)

    monkeypatch.setattr(access.bcrypt, "checkpw", checkpw)
    return costs


def test_unknown_names_cost_what_real_ones_cost(tmp_path, bcrypt_costs):
    path = tmp_path / "users.txt"
    add_user(path, "ana", "analyst", "a long passphrase", rounds=5)
    users = load_users(path)
    assert users.authenticate("ana", "a long passphrase").name == "ana"
    assert users.authenticate("ana", "wrong passphrase") is None
    assert users.authenticate("nobody", "a long passphrase") is None
    assert users.authenticate("", "") is None
    # the dummy used to be cost 4 against real cost 12 (3 ms vs 277 ms)
    assert bcrypt_costs == [5, 5, 5, 5]


def test_dummy_cost_follows_the_accounts():
    real = Users.from_lines(["ana:analyst:" + hash_password("a long passphrase")])
    assert bcrypt_cost(real.get("ana").password_hash) == 12
    assert bcrypt_cost(real.dummy_hash) == 12
    mixed = Users.from_lines(["a:analyst:" + hash_password("password one", 4),
                              "b:partner:" + hash_password("password two", 6)])
    assert bcrypt_cost(mixed.dummy_hash) == 6  # never cheaper than any account
    assert bcrypt_cost(Users({}).dummy_hash) == 12


# -- the app's log-in ------------------------------------------------------------------
@pytest.fixture
def dash_app(zoo_env, users, monkeypatch):
    from dashboards.app import create_app

    for key in ("HOTSPOTS_SECURE_COOKIES", "HOTSPOTS_TRUSTED_PROXIES"):
        monkeypatch.delenv(key, raising=False)
    return create_app(store=zoo_env, users=users, tiles="none", permutations=99)


@pytest.fixture
def client(dash_app):
    return dash_app.server.test_client()


def _login(client, user, password=None, nxt="/", addr=None, headers=None):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    extra = {"environ_base": {"REMOTE_ADDR": addr}} if addr else {}
    return client.post("/login", data={
        "username": user, "password": password or PASSWORDS[user][1],
        "csrf": token, "next": nxt}, headers=headers or {}, **extra)


def _replay(server, cookie):
    """A fresh client holding only ``cookie`` (an old session cookie)."""
    other = server.test_client()
    other.set_cookie("session", cookie)
    return other


def test_everything_needs_a_login(client):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_wrong_password_and_missing_token(client):
    r = _login(client, "ana", "wrong password")
    assert r.status_code == 401 and "Wrong user or password" in r.get_data(True)
    r = client.post("/login", data={"username": "ana",
                                    "password": PASSWORDS["ana"][1]})
    assert r.status_code == 400
    assert client.get("/_dash-layout").status_code == 401


def test_the_login_page_of_a_logged_in_user_says_who_is_logged_in(client):
    """Back to the log-in page after logging in, or its bookmark: the form says
    who is logged in and links back to the map (it had looked logged out)."""
    assert 'id="login-note"' not in client.get("/login").get_data(as_text=True)
    _login(client, "ana")
    page = client.get("/login").get_data(as_text=True)
    assert "You are logged in as ana (analyst)" in page and 'href="/"' in page
    client.post("/logout")
    assert 'id="login-note"' not in client.get("/login").get_data(as_text=True)


def test_next_is_never_off_site(client):
    r = _login(client, "ana", nxt="//evil.example/x")
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_layout_by_role(client):
    from dashboards import ids

    _login(client, "ana")
    analyst = client.get("/_dash-layout").get_data(as_text=True)
    assert ids.POINTS in analyst and ids.HOURS in analyst
    client.post("/logout")
    assert client.get("/_dash-layout").status_code == 401
    _login(client, "pat")
    partner = client.get("/_dash-layout").get_data(as_text=True)
    assert ids.POINTS not in partner and ids.ZONES not in partner
    assert ids.HOURS not in partner
    json.loads(partner)


def test_partner_gets_no_points_even_when_asking(client):
    """A crafted request for the point layer, the same an analyst's map sends,
    answers an empty layer to a partner."""
    from dashboards import ids

    def points(user):
        _login(client, user)
        states = [{"id": ids.FAMILY, "property": "value", "value": "all"},
                  {"id": ids.MONTHS, "property": "value", "value": [0, 23]},
                  {"id": ids.RES, "property": "value", "value": 9},
                  {"id": ids.LEVEL, "property": "value", "value": 90},
                  {"id": ids.FDR, "property": "value", "value": []}]
        body = {"output": f"{ids.POINTS}.data",
                "outputs": {"id": ids.POINTS, "property": "data"},
                "inputs": [{"id": ids.POINTS, "property": "hideout",
                            "value": {"on": True, "area": "Merton"}}],
                "state": states, "changedPropIds": [f"{ids.POINTS}.hideout"]}
        r = client.post("/_dash-update-component", json=body)
        assert r.status_code == 200
        return r.get_json()["response"][ids.POINTS]["data"]

    assert points("ana")["features"]  # the request is one that draws points
    assert points("pat")["features"] == []


@pytest.mark.parametrize("body", [{}, [], "x", {"output": "a.b"},
                                  {"output": 1, "inputs": []}],
                         ids=["empty", "list", "text", "no-inputs", "bad-output"])
def test_a_malformed_callback_request_is_a_400_not_a_server_error(client, body):
    _login(client, "ana")
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 400
    assert "'output' and 'inputs'" in r.get_json()["error"]
    r = client.post("/_dash-update-component", data=b"{not json",
                    content_type="application/json")
    assert r.status_code == 400


def test_nesting_too_deep_or_a_body_too_large_is_refused(client, monkeypatch):
    """JSON nested past the parser's depth raised RecursionError, which
    ``get_json(silent=True)`` lets through: a 500. A body over the cap is 413
    before it is parsed (a partner's 114 MB body took a gigabyte)."""
    _login(client, "ana")
    for body in (b"[" * 100_000 + b"]" * 100_000,
                 b'{"output": "a.b", "inputs": ' + b"[" * 100_000 + b"]" * 100_000
                 + b"}"):
        r = client.post("/_dash-update-component", data=body,
                        content_type="application/json")
        assert r.status_code == 400, r.status_code
    cap = client.application.config["MAX_CONTENT_LENGTH"]
    assert cap == 8 << 20  # HOTSPOTS_MAX_REQUEST_MB's default
    r = client.post("/_dash-update-component", data=b" " * (cap + 1),
                    content_type="application/json")
    assert r.status_code == 413


def test_a_component_file_dash_has_not_got_is_a_404(client):
    _login(client, "ana")
    r = client.get("/_dash-component-suites/dash/%2e%2e/%2e%2e/etc/passwd")
    assert r.status_code == 404


def _inputs(n: int) -> list[dict]:
    return [{"id": f"x{i}", "property": "value", "value": 1} for i in range(n)]


def test_a_callback_request_for_no_server_callback_is_a_400(dash_app, client):
    """Naming a clientside callback's output, or no callback's, or sending another
    number of inputs than the callback has, is the client's mistake: 400, not
    Dash's KeyError or TypeError as a 500."""
    from dashboards import ids

    _login(client, "ana")
    server_side = f"{ids.VIEW_DATA}.data"
    assert server_side in dash_app.callback_map
    # the output key of a clientside callback (Dash lists it among the callbacks,
    # without a function to call)
    clientside = next(k for k, v in dash_app.callback_map.items()
                      if f"{ids.DRAWN}.data" in k)
    assert "callback" not in dash_app.callback_map[clientside]
    n = len(dash_app.callback_map[server_side]["inputs"])
    for output, inputs, state, words in [
            (clientside, _inputs(1), [], "no callback answers"),
            ("nothing.here", _inputs(1), [], "no callback answers"),
            (server_side, _inputs(n - 1), [], "do not match"),
            (server_side, _inputs(n), _inputs(1), "do not match"),
            (server_side, [1] * n, [], "do not match"),
            (server_side, _inputs(n), "x", "do not match")]:
        r = client.post("/_dash-update-component",
                        json={"output": output, "inputs": inputs, "state": state})
        assert r.status_code == 400, output
        assert words in r.get_json()["error"]



@pytest.mark.parametrize("res", [None, "abc", [9]], ids=["null", "text", "list"])
def test_crafted_callback_values_are_refused_not_a_server_error(dash_app, client, res):
    """Values the app's controls never send: a view's resolution of null, text or
    a list reads as a bad view (its status says why); a request Dash itself
    cannot run (no outputs) answers 400 with one line, not a server error."""
    from dashboards import ids

    _login(client, "pat")

    def body(value):
        inputs = [{"id": ids.AREA, "property": "value", "value": "Merton"},
                  {"id": ids.FAMILY, "property": "value", "value": "robbery"},
                  {"id": ids.MONTHS, "property": "value", "value": [0, 5]},
                  {"id": ids.RES, "property": "value", "value": value},
                  {"id": ids.LEVEL, "property": "value", "value": 90},
                  {"id": ids.FDR, "property": "value", "value": []}]
        return {"output": f"{ids.VIEW_DATA}.data",
                "outputs": {"id": ids.VIEW_DATA, "property": "data"},
                "inputs": inputs, "changedPropIds": [f"{ids.AREA}.value"]}

    def status(r):
        return r.get_json()["response"][ids.VIEW_DATA]["data"]["status"]

    ok = client.post("/_dash-update-component", json=body(9))
    assert ok.status_code == 200 and "'res'" not in status(ok)
    r = client.post("/_dash-update-component", json=body(res))
    assert r.status_code == 200 and "'res' needs to be one of" in status(r)
    no_outputs = {k: v for k, v in body(9).items() if k != "outputs"}
    r = client.post("/_dash-update-component", json=no_outputs)
    assert r.status_code == 400
    assert "could not use the values sent" in r.get_json()["error"]


def test_a_failure_outside_the_callbacks_is_flasks_to_handle(dash_app, client):
    """The callbacks' 400 handler leaves every other failure to Flask: logged,
    a 500 (raised through, under test), not swallowed into a bare answer."""
    def boom():
        raise LookupError("not a callback's")

    dash_app.server.add_url_rule("/boom-test", "boom_test", boom)
    _login(client, "ana")
    dash_app.server.testing = True
    try:
        with pytest.raises(LookupError, match="not a callback's"):
            client.get("/boom-test")
    finally:
        dash_app.server.testing = False


def test_an_export_of_nothing_says_so(dash_app, client):
    """Zoo Two robbery in a month without any: the CSV export downloads nothing
    and the status line says why (the click had done nothing at all)."""
    from dashboards import ids

    _login(client, "ana")
    key = next(k for k in dash_app.callback_map
               if f"{ids.DOWNLOAD}.data" in k and f"{ids.STATUS}.children" in k)
    view = {ids.AREA: "E05000002", ids.FAMILY: "robbery", ids.MONTHS: [4, 4],
            ids.RES: 9, ids.LEVEL: 90, ids.FDR: []}
    body = {"output": key,
            "outputs": [{"id": ids.DOWNLOAD, "property": "data"},
                        {"id": ids.STATUS, "property": "children"}],
            "inputs": [{"id": i, "property": "n_clicks", "value": v} for i, v in
                       ((ids.DL_CSV, 1), (ids.DL_GEOJSON, None), (ids.DL_PDF, None))],
            "state": [{"id": i, "property": "value", "value": v}
                      for i, v in view.items()],
            "changedPropIds": [f"{ids.DL_CSV}.n_clicks"]}
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    out = r.get_json()["response"]
    assert ids.DOWNLOAD not in out
    assert out[ids.STATUS]["children"].startswith("Nothing exported: no robbery")


# -- server-side sessions --------------------------------------------------------------
def test_logout_ends_the_session_server_side(dash_app, client):
    assert _login(client, "ana").status_code == 302
    assert client.get("/_dash-layout").status_code == 200
    cookie = client.get_cookie("session").value
    assert _replay(dash_app.server, cookie).get("/_dash-layout").status_code == 200
    # a GET (a link or an image elsewhere naming /logout) only shows the button
    r = client.get("/logout")
    assert r.status_code == 200 and 'id="logout-form"' in r.get_data(True)
    assert client.get("/_dash-layout").status_code == 200
    # a POST from another site is refused; from this site it logs out
    r = client.post("/logout", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert client.get("/_dash-layout").status_code == 200
    r = client.post("/logout", headers={"Origin": "http://localhost"})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    # the old cookie is still validly signed, but its session is gone
    assert _replay(dash_app.server, cookie).get("/_dash-layout").status_code == 401
    assert _replay(dash_app.server, cookie).get("/").status_code == 302


def test_a_new_login_does_not_keep_the_old_session(dash_app, client):
    _login(client, "ana")
    first = client.get_cookie("session").value
    _login(client, "pat")
    r = _replay(dash_app.server, first).get("/_dash-layout")
    assert r.status_code == 401
    # a late request of the old page must not overwrite the new log-in's cookie
    assert "Set-Cookie" not in r.headers


@pytest.fixture
def file_app(zoo_env, tmp_path, monkeypatch):
    """The app on a user file, as ``hotspots serve`` runs it."""
    from dashboards.app import create_app

    for key in ("HOTSPOTS_SECURE_COOKIES", "HOTSPOTS_TRUSTED_PROXIES"):
        monkeypatch.delenv(key, raising=False)
    path = tmp_path / "users.txt"
    for name, (role, pw) in PASSWORDS.items():
        add_user(path, name, role, pw, rounds=4)
    app = create_app(store=zoo_env, users=load_users(path), tiles="none",
                     permutations=99)
    return app, path


def test_a_removed_user_is_out_at_once(file_app):
    app, path = file_app
    ana, pat = app.server.test_client(), app.server.test_client()
    assert _login(ana, "ana").status_code == 302
    assert _login(pat, "pat").status_code == 302
    assert ana.get("/_dash-layout").status_code == 200
    remove_user(path, "ana")  # what `hotspots deluser ana` does; no restart
    assert ana.get("/_dash-layout").status_code == 401
    assert _login(ana, "ana").status_code == 401
    assert pat.get("/_dash-layout").status_code == 200
    # the account coming back does not bring the old session back
    add_user(path, "ana", "analyst", PASSWORDS["ana"][1], rounds=4)
    assert ana.get("/_dash-layout").status_code == 401


def test_a_new_password_or_role_ends_old_sessions(file_app):
    app, path = file_app
    pat = app.server.test_client()
    _login(pat, "pat")
    cookie = pat.get_cookie("session").value
    add_user(path, "pat", "partner", "a brand new password", rounds=4)
    assert _replay(app.server, cookie).get("/_dash-layout").status_code == 401
    assert _login(pat, "pat", "a brand new password").status_code == 302
    add_user(path, "pat", "analyst", "a brand new password", rounds=4)
    assert pat.get("/_dash-layout").status_code == 401


def test_a_broken_user_file_lets_nobody_in(file_app):
    app, path = file_app
    ana = app.server.test_client()
    _login(ana, "ana")
    path.write_text("ana:analyst:plain-text-password\n")
    assert ana.get("/_dash-layout").status_code == 401


def test_sessions_expire():
    from dashboards.auth import SessionStore

    now = [0.0]
    store = SessionStore(3600.0, clock=lambda: now[0])
    sid = store.create(User("ana", "analyst", hash_password("a long passphrase", 4)))
    assert store.get(sid).name == "ana"
    now[0] = 3599.0
    assert store.get(sid) is not None
    now[0] = 3600.0
    assert store.get(sid) is None and len(store) == 0


# -- Secure cookies over HTTPS ---------------------------------------------------------
def _session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie")
                if h.startswith("session="))


def test_secure_cookie_over_https_and_behind_a_trusted_proxy(dash_app, zoo_env,
                                                             users, monkeypatch):
    from dashboards.app import create_app

    plain = _login(dash_app.server.test_client(), "ana")
    assert "Secure" not in _session_cookie(plain)
    assert "HttpOnly" in _session_cookie(plain)
    # no trusted proxy (the default): a client's own header is not believed
    spoofed = _login(dash_app.server.test_client(), "ana",
                     headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in _session_cookie(spoofed)
    direct = dash_app.server.test_client()
    r = direct.post("/login", base_url="https://localhost", data={})
    assert "Secure" in _session_cookie(r)
    monkeypatch.setenv("HOTSPOTS_TRUSTED_PROXIES", "1")
    proxied_app = create_app(store=zoo_env, users=users, tiles="none", permutations=99)
    proxied = _login(proxied_app.server.test_client(), "ana",
                     headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in _session_cookie(proxied)
    # one proxy: the value it added (the last), not the client's first
    mixed = _login(proxied_app.server.test_client(), "ana",
                   headers={"X-Forwarded-Proto": "https, http"})
    assert "Secure" not in _session_cookie(mixed)


@pytest.mark.parametrize(("policy", "proto", "secure"),
                         [("always", None, True), ("never", "https", False)])
def test_secure_cookie_policy(zoo_env, users, monkeypatch, policy, proto, secure):
    from dashboards.app import create_app

    monkeypatch.setenv("HOTSPOTS_SECURE_COOKIES", policy)
    app = create_app(store=zoo_env, users=users, tiles="none", permutations=99)
    r = _login(app.server.test_client(), "ana",
               headers={"X-Forwarded-Proto": proto} if proto else None)
    assert ("Secure" in _session_cookie(r)) is secure


# -- rate limits, with a fake clock ----------------------------------------------------
@pytest.fixture
def limited(users):
    """A bare Flask app behind install_auth, on a clock the test moves."""
    from flask import Flask

    from dashboards.auth import install_auth

    server = Flask("limited")
    now = [1_000.0]
    install_auth(server, users, secret_key="test", clock=lambda: now[0],
                 secure="auto", trusted_proxies=0)

    @server.route("/")
    def home():
        return "ok"

    return server, now


def test_five_failures_then_429_until_the_window_passes(limited):
    server, now = limited
    c = server.test_client()
    for _ in range(5):
        assert _login(c, "ana", "wrong password").status_code == 401
    r = _login(c, "ana")  # even the right password waits
    assert r.status_code == 429
    assert "Too many failed log-in attempts for this user or from this address: " \
        "try again in 5 minutes." in r.get_data(as_text=True)
    assert r.headers["Retry-After"] == "300"
    now[0] += 299.0
    r = _login(c, "ana")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "try again in 1 minute." in r.get_data(as_text=True)
    now[0] += 1.0
    assert _login(c, "ana").status_code == 302
    assert c.get("/").get_data(as_text=True) == "ok"


def test_limit_per_user_holds_back_the_addresses_that_failed(limited):
    """Five failures for a name, from five addresses: those addresses wait for
    it, even with the right password; an address that never failed for it is
    still checked (wrong: a failure, then it waits too; right: in). Failing on
    purpose cannot lock the user out."""
    server, _ = limited
    c = server.test_client()
    for i in range(5):
        _login(c, "ana", "wrong password", addr=f"10.0.0.{i}")
    assert _login(c, "ana", addr="10.0.0.3").status_code == 429
    assert _login(c, "ANA ", "x", addr="10.0.0.98").status_code == 401  # same name
    assert _login(c, "ana", addr="10.0.0.98").status_code == 429
    assert _login(c, "pat", addr="10.0.0.98").status_code == 302  # another name
    assert _login(c, "ana", addr="10.0.0.99").status_code == 302  # the real user


def test_the_user_is_not_locked_out_by_someone_else_failing(limited):
    """Someone failing for ana again and again from one address (the helper's
    'five every five minutes') does not keep ana out from her own."""
    server, now = limited
    attacker, ana = server.test_client(), server.test_client()
    for _ in range(3):
        for _ in range(6):
            _login(attacker, "ana", "wrong password", addr="198.51.100.7")
        assert _login(attacker, "ana", addr="198.51.100.7").status_code == 429
        assert _login(ana, "ana", addr="10.1.1.1").status_code == 302
        now[0] += 200.0


def test_parallel_tries_cannot_pass_the_limit_together(limited):
    """Each try is counted before its password is checked: of many at once from
    one address, at most the limit are checked."""
    from concurrent.futures import ThreadPoolExecutor

    server, _ = limited
    page = server.test_client().get("/login")
    cookie = page.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    token = re.search(r'name="csrf" value="([^"]+)"',
                      page.get_data(as_text=True)).group(1)

    def attempt(_):
        c = server.test_client()
        c.set_cookie("session", cookie)
        return c.post("/login", data={"username": "ana", "password": "wrong",
                                      "csrf": token}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(attempt, range(40)))
    assert codes.count(401) == 5 and codes.count(429) == 35


def test_a_login_without_the_sessions_token_is_refused(limited):
    """A cross-site form carries no cookie, so the session has no token: an empty
    token sent with it matched the empty one and logged the browser in (as the
    attacker's account)."""
    server, _ = limited
    c = server.test_client()
    r = c.post("/login", data={"username": "pat", "csrf": "",
                               "password": PASSWORDS["pat"][1]})
    assert r.status_code == 400 and "The form expired" in r.get_data(as_text=True)
    assert c.get("/").status_code == 302  # not logged in
    assert _login(c, "pat").status_code == 302  # with the form's token: in


@pytest.mark.parametrize("nxt", ["/\r\nSet-Cookie: x=1", "/a\tb", "/\x7f"])
def test_a_next_with_control_characters_goes_home(limited, nxt):
    server, _ = limited
    r = _login(server.test_client(), "pat", nxt=nxt)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_limit_per_address_across_names(limited):
    server, _ = limited
    c = server.test_client()
    for i in range(5):
        _login(c, f"guess{i}", "wrong password", addr="10.0.0.9")
    assert _login(c, "pat", addr="10.0.0.9").status_code == 429
    assert _login(c, "pat", addr="10.0.0.10").status_code == 302


def test_forwarded_addresses_only_from_trusted_proxies(users):
    from flask import Flask

    from dashboards.auth import install_auth

    def failures_from_forwarded_addresses(proxies):
        server = Flask("proxied")
        install_auth(server, users, secret_key="test", trusted_proxies=proxies)
        c = server.test_client()
        for i in range(5):
            _login(c, f"guess{i}", "wrong password",
                   headers={"X-Forwarded-For": f"192.0.2.{i}"})
        return _login(c, "pat", headers={"X-Forwarded-For": "192.0.2.77"})

    # untrusted: a client cannot pick a new address for each try
    assert failures_from_forwarded_addresses(0).status_code == 429
    # behind one trusted proxy, each forwarded address is its own client
    assert failures_from_forwarded_addresses(1).status_code == 302


def test_the_app_answers_429(client):
    for _ in range(5):
        assert _login(client, "pat", "wrong password").status_code == 401
    r = _login(client, "pat")
    assert r.status_code == 429
    assert client.get("/_dash-layout").status_code == 401
