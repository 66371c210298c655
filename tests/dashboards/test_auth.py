"""Accounts (hotspots.access) and the app's log-in, through Flask's test client."""

from __future__ import annotations

import json
import re
import stat

import pytest

from hotspots.access import (
    Users,
    add_user,
    hash_password,
    load_users,
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


# -- the app's log-in --------------------------------------------------------------
@pytest.fixture
def client(zoo_env, users):
    from dashboards.app import create_app

    app = create_app(store=zoo_env, users=users, tiles="none", permutations=99)
    return app.server.test_client()


def _login(client, user, password=None, nxt="/"):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return client.post("/login", data={
        "username": user, "password": password or PASSWORDS[user][1],
        "csrf": token, "next": nxt})


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


def test_next_is_never_off_site(client):
    r = _login(client, "ana", nxt="//evil.example/x")
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_layout_by_role(client):
    from dashboards import ids

    _login(client, "ana")
    analyst = client.get("/_dash-layout").get_data(as_text=True)
    assert ids.POINTS in analyst and ids.HOURS in analyst
    client.get("/logout")
    assert client.get("/_dash-layout").status_code == 401
    _login(client, "pat")
    partner = client.get("/_dash-layout").get_data(as_text=True)
    assert ids.POINTS not in partner and ids.ZONES not in partner
    assert ids.HOURS not in partner
    json.loads(partner)


def test_partner_gets_no_points_even_when_asking(client):
    """A crafted request for the point layer answers an empty layer to a partner."""
    from dashboards import ids

    _login(client, "pat")
    inputs = [{"id": ids.AREA, "property": "value", "value": "Merton"},
              {"id": ids.FAMILY, "property": "value", "value": "all"},
              {"id": ids.MONTHS, "property": "value", "value": [0, 23]},
              {"id": ids.RES, "property": "value", "value": 9},
              {"id": ids.LEVEL, "property": "value", "value": 90},
              {"id": ids.FDR, "property": "value", "value": []}]
    body = {"output": f"{ids.POINTS}.data",
            "outputs": {"id": ids.POINTS, "property": "data"},
            "inputs": inputs, "state": [], "changedPropIds": [f"{ids.AREA}.value"]}
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["response"][ids.POINTS]["data"]["features"] == []
