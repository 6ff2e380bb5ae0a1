"""Personal API tokens: created (page and CLI), shown once, stored only as a hash, revocable;
a revoked or expired token is refused at once; CSRF for cookie writes; the per-token rate limit."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, text

from tests.factories import NOW, PASSWORD, make_question, make_user
from tracker import create_app
from tracker.domain.tokens import create_token, revoke_token
from tracker.models import ApiToken

TOKEN_RE = re.compile(r"trk_\d+_[A-Za-z0-9_-]{20,}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_never_stored_in_clear(client, db_session, clock):
    user = make_user(db_session, "alice")
    clear = create_token(db_session, clock, user, "laptop").clear
    db_session.commit()
    secret = clear.split("_", 2)[2]
    rows = db_session.execute(text("SELECT * FROM api_tokens")).mappings().all()
    assert len(rows) == 1
    for value in rows[0].values():
        assert clear not in str(value) and secret not in str(value)
    assert len(rows[0]["secret_hash"]) == 64
    db_session.rollback()  # end the read (SQLite: every transaction holds the write lock)
    assert client.get("/api/v1/me", headers=bearer(clear)).status_code == 200


def test_revoked_expired_and_wrong_tokens_get_401_at_once(client, db_session, clock):
    user = make_user(db_session, "alice")
    live = create_token(db_session, clock, user, "a").clear
    short = create_token(db_session, clock, user, "b", expires_days=1).clear
    revoked = create_token(db_session, clock, user, "c")
    db_session.commit()
    assert client.get("/api/v1/me", headers=bearer(revoked.clear)).status_code == 200
    revoke_token(db_session, clock, revoked.token)
    db_session.commit()
    assert client.get("/api/v1/me", headers=bearer(revoked.clear)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(short)).status_code == 200
    clock.advance(days=1)
    assert client.get("/api/v1/me", headers=bearer(short)).status_code == 401
    tampered = live[:-2] + ("AA" if not live.endswith("AA") else "BB")
    for bad in (tampered, "trk_999_" + "x" * 43, "nonsense", ""):
        response = client.get("/api/v1/me", headers=bearer(bad))
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_token"
    # Even public reads refuse a bad token, so a script learns at once that its token is dead.
    assert client.get("/api/v1/questions", headers=bearer(revoked.clear)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(live)).status_code == 200


def test_last_use_is_recorded(client, db_session, clock):
    user = make_user(db_session, "alice")
    new = create_token(db_session, clock, user, "a")
    db_session.commit()
    client.get("/api/v1/me", headers=bearer(new.clear))
    db_session.expire_all()
    assert db_session.get(ApiToken, new.token.id).last_used_at == NOW


def test_a_token_never_grants_admin_rights_its_owner_lacks(client, db_session, clock):
    admin = make_user(db_session, "root", role="admin")
    make_question(db_session, "past", NOW - timedelta(days=9), NOW - timedelta(days=1), status="closed")
    token = create_token(db_session, clock, admin, "ops").clear
    db_session.commit()
    assert client.get("/api/v1/admin/resolution-queue", headers=bearer(token)).status_code == 200
    admin.role = "forecaster"  # demoted: the same token loses admin rights at once
    db_session.commit()
    assert client.get("/api/v1/admin/resolution-queue", headers=bearer(token)).status_code == 403
    assert client.post("/api/v1/questions/past/resolve", json={"outcome": "yes"}, headers=bearer(token)).status_code == 403


def test_account_page_creates_shows_once_lists_and_revokes(client, auth, db_session):
    make_user(db_session, "alice")
    db_session.commit()
    auth.login("alice")
    page = client.get("/auth/account").get_data(as_text=True)
    assert "API tokens" in page
    created = client.post("/auth/tokens", data={"name": "my script", "expires_days": "30"})
    assert created.status_code == 201
    clear = TOKEN_RE.search(created.get_data(as_text=True)).group(0)
    assert client.get("/api/v1/me", headers=bearer(clear)).get_json()["token_name"] == "my script"
    listing = client.get("/auth/account").get_data(as_text=True)
    assert "my script" in listing and clear not in listing and "active" in listing
    duplicate = client.post("/auth/tokens", data={"name": "my script"})
    assert duplicate.status_code == 409 and "already have a token" in duplicate.get_data(as_text=True)
    token_id = db_session.scalar(select(ApiToken.id).where(ApiToken.name == "my script"))
    db_session.rollback()
    assert client.post(f"/auth/tokens/{token_id}/revoke").status_code == 302
    assert "revoked" in client.get("/auth/account").get_data(as_text=True)
    assert client.get("/api/v1/me", headers=bearer(clear)).status_code == 401


def test_cannot_revoke_someone_elses_token(client, auth, db_session, clock):
    make_user(db_session, "alice")
    bob = make_user(db_session, "bob")
    theirs = create_token(db_session, clock, bob, "x")
    db_session.commit()
    auth.login("alice")
    assert client.post(f"/auth/tokens/{theirs.token.id}/revoke").status_code == 404
    assert client.get("/api/v1/me", headers=bearer(theirs.clear)).status_code == 200


def test_cli_creates_prints_once_and_revokes(runner, db_session, client):
    make_user(db_session, "alice")
    db_session.commit()
    result = runner.invoke(["tokens", "create", "alice", "--name", "cron", "--expires-days", "7"])
    assert result.exit_code == 0, result.output
    clear = result.stdout.strip()
    assert TOKEN_RE.fullmatch(clear)
    assert client.get("/api/v1/me", headers=bearer(clear)).get_json()["username"] == "alice"
    assert runner.invoke(["tokens", "revoke", "alice", "cron"]).exit_code == 0
    assert client.get("/api/v1/me", headers=bearer(clear)).status_code == 401
    missing = runner.invoke(["tokens", "revoke", "alice", "nope"])
    assert missing.exit_code == 1 and "no token named" in missing.output
    assert runner.invoke(["tokens", "create", "nobody", "--name", "x"]).exit_code == 1


def test_cookie_writes_need_csrf_token_writes_do_not(csrf_app, db_session, clock):
    alice = make_user(db_session, "alice")
    make_question(db_session, "rain", NOW - timedelta(days=1), NOW + timedelta(days=9))
    token = create_token(db_session, clock, alice, "t").clear
    db_session.commit()
    client = csrf_app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/auth/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf}).status_code == 302
    body = {"probabilities": {"yes": 0.6}}
    refused = client.post("/api/v1/questions/rain/forecasts", json=body)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf_failed"
    accepted = client.post("/api/v1/questions/rain/forecasts", json=body, headers={"X-CSRFToken": csrf})
    assert accepted.status_code == 201
    assert client.get("/api/v1/me").get_json()["auth"] == "session"
    clock.advance(seconds=1)  # a forecaster's forecasts on one question are unique by time
    scripted = csrf_app.test_client().post("/api/v1/questions/rain/forecasts", json=body, headers=bearer(token))
    assert scripted.status_code == 201


def test_rate_limit_per_token_is_429_json(settings, clock, db_session):
    settings.ratelimit_enabled = True
    settings.api_rate_limit = "3 per minute"
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    try:
        alice, bob = make_user(db_session, "alice"), make_user(db_session, "bob")
        first, second = create_token(db_session, clock, alice, "a").clear, create_token(db_session, clock, bob, "b").clear
        db_session.commit()
        client = app.test_client()
        codes = [client.get("/api/v1/me", headers=bearer(first)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/me", headers=bearer(first))
        assert limited.get_json()["error"]["code"] == "rate_limited" and "Retry-After" in limited.headers
        assert "3 per 1 minute" in limited.get_json()["error"]["message"]
        assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200  # its own budget
    finally:
        app.extensions["tracker"].engine.dispose()
