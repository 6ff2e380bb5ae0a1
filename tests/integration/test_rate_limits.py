"""Issue 10, item 2: login, registration, password change and password reset are throttled per
address and per account, in memory or in Redis; the 429 page says when to try again."""
from __future__ import annotations

import re
import socket
import uuid

import pytest

from tests.conftest import CountingHasher, in_ci
from tests.factories import PASSWORD, make_user
from tracker import create_app
from tracker.config import ConfigError, Settings
from tracker.domain import users as users_domain

REDIS = ("127.0.0.1", 6379)


def redis_url(db: int = 15) -> str:
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        if in_ci():
            pytest.fail("Redis is required under CI at 127.0.0.1:6379")
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    return f"redis://{REDIS[0]}:{REDIS[1]}/{db}"


def limited_app(settings, clock, storage: str | None = None, prefix: str | None = None):
    settings.ratelimit_enabled = True
    settings.ratelimit_storage_url = storage
    config = {"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False}
    if prefix:
        config["RATELIMIT_KEY_PREFIX"] = prefix
    return create_app(config)




@pytest.fixture
def alice(db_session):
    make_user(db_session, "alice")
    db_session.commit()


def _login(client, username="alice", password="wrong-guess", address="10.0.0.1"):
    return client.post("/auth/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_fifty_wrong_passwords_are_not_all_checked(settings, clock, alice, monkeypatch):
    app = limited_app(settings, clock)
    counting = CountingHasher(users_domain._hasher)
    monkeypatch.setattr(users_domain, "_hasher", counting)
    client = app.test_client()
    statuses = [_login(client, address=f"10.0.0.{i}").status_code for i in range(50)]
    assert statuses[:10] == [400] * 10 and set(statuses[10:]) == {429}
    assert counting.verifications == 10, "guesses past the limit never reach argon2"
    refused = _login(client, password=PASSWORD, address="10.9.9.9")
    assert refused.status_code == 429, "the right password is refused too while the account is locked"
    page = refused.get_data(as_text=True)
    assert re.search(r"Try again in \d+ seconds, after \d\d:\d\d:\d\d UTC", page)
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert _login(client, username="bob", address="10.9.9.9").status_code == 400, "other accounts are not locked"
    app.extensions["tracker"].engine.dispose()


def test_one_address_is_limited_across_accounts(settings, clock):
    app = limited_app(settings, clock)
    client = app.test_client()
    statuses = [_login(client, username=f"user{i}").status_code for i in range(31)]
    assert statuses[:30] == [400] * 30 and statuses[30] == 429
    assert _login(client, username="fresh", address="10.0.0.2").status_code == 400
    app.extensions["tracker"].engine.dispose()


def _register(client, i):
    return client.post("/auth/register", data={"username": f"new{i}", "password": "short", "confirm": "short"})


def _reset(client, i):
    return client.post("/auth/reset/", data={"identifier": "alice"}, environ_base={"REMOTE_ADDR": f"10.1.0.{i}"})


@pytest.mark.parametrize(("what", "attempt", "allowed"), [
    ("registration per address", _register, 30),
    ("password reset per account", _reset, 10),
])
def test_registration_and_reset_are_limited(settings, clock, alice, what, attempt, allowed):
    app = limited_app(settings, clock)
    client = app.test_client()
    statuses = [attempt(client, i).status_code for i in range(allowed + 1)]
    assert 429 not in statuses[:allowed] and statuses[allowed] == 429, what
    app.extensions["tracker"].engine.dispose()


def test_password_change_is_limited_per_account(settings, clock, alice):
    app = limited_app(settings, clock)
    client = app.test_client()
    assert _login(client, password=PASSWORD).status_code == 302
    statuses = [client.post("/auth/account", data={"current": f"guess-{i}", "new": "orbit-lantern-42",
                                                   "confirm": "orbit-lantern-42"},
                            environ_base={"REMOTE_ADDR": f"10.2.0.{i}"}).status_code for i in range(11)]
    assert statuses[:10] == [400] * 10 and statuses[10] == 429
    assert client.get("/auth/account").status_code == 200, "only the POSTs are limited"
    app.extensions["tracker"].engine.dispose()


def test_limits_are_shared_through_redis(settings, clock, alice):
    """Two app instances (as two gunicorn workers would) count together in Redis."""
    import redis

    url = redis_url()
    prefix = f"tracker-test-{uuid.uuid4().hex}"
    first = limited_app(settings, clock, storage=url, prefix=prefix)
    one = first.test_client()
    assert [_login(one, address=f"10.3.0.{i}").status_code for i in range(6)] == [400] * 6
    second = limited_app(settings, clock, storage=url, prefix=prefix)
    two = second.test_client()
    assert [_login(two, address=f"10.4.0.{i}").status_code for i in range(5)] == [400, 400, 400, 400, 429]
    keys = redis.Redis.from_url(url).keys(f"*{prefix}*")
    assert keys, "the counters live in Redis"
    redis.Redis.from_url(url).delete(*keys)
    for app in (first, second):
        app.extensions["tracker"].engine.dispose()


def test_limits_can_be_switched_off_for_load_tests_but_not_in_production():
    base = {"TRACKER_SECRET_KEY": "k"}
    assert Settings.from_env(base).ratelimit_enabled is True
    assert Settings.from_env({**base, "TRACKER_ENV": "production"}).ratelimit_enabled is True
    assert Settings.from_env({**base, "TRACKER_RATELIMIT_ENABLED": "0"}).ratelimit_enabled is False
    with pytest.raises(ConfigError, match="refused when TRACKER_ENV=production"):
        Settings.from_env({**base, "TRACKER_ENV": "production", "TRACKER_RATELIMIT_ENABLED": "0"})
    url = "redis://127.0.0.1:6379/3"
    assert Settings.from_env({**base, "TRACKER_RATELIMIT_STORAGE_URL": url}).ratelimit_storage_url == url


def test_switched_off_nothing_is_limited(settings, clock, alice):
    settings.ratelimit_enabled = False
    app = create_app({"SETTINGS": settings, "CLOCK": clock, "TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert {_login(client).status_code for _ in range(15)} == {400}
    app.extensions["tracker"].engine.dispose()
