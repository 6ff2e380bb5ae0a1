"""The JSON API's endpoints, on the suite's database (SQLite, or PostgreSQL when selected)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import NOW, add_forecast, make_question, make_user
from tracker.domain.forecaster_stats import rebuild_stats
from tracker.domain.tokens import create_token
from tracker.models import Forecast, QuestionScore, ResolutionEvent, Score


@pytest.fixture
def world(db_session, clock):
    """Two forecasters and an admin with tokens; an open binary, an open multiple-choice and a
    closed question; one resolved question with stored scores."""
    alice, bob = make_user(db_session, "alice"), make_user(db_session, "bob")
    admin = make_user(db_session, "root", role="admin")
    binary = make_question(db_session, "rain", NOW - timedelta(days=10), NOW + timedelta(days=10), tags=["weather"])
    multi = make_question(db_session, "vote", NOW - timedelta(days=5), NOW + timedelta(days=3),
                          kind="multiple_choice", tags=["politics"])
    closed = make_question(db_session, "past", NOW - timedelta(days=30), NOW - timedelta(days=1), status="closed")
    done = make_question(db_session, "done", NOW - timedelta(days=60), NOW - timedelta(days=20), status="resolved",
                         tags=["weather"])
    add_forecast(db_session, binary, bob, 0.4, NOW - timedelta(days=2))
    add_forecast(db_session, done, alice, 0.8, NOW - timedelta(days=50))
    event = ResolutionEvent(question_id=done.id, action="resolve", outcome_option_id=done.options[0].id, note="",
                            actor_name="root", created_at=NOW - timedelta(days=19))
    db_session.add(event)
    db_session.flush()
    db_session.add(QuestionScore(question_id=done.id, resolution_event_id=event.id, window_days=40, forecasters=1,
                                 crowd_brier=0.08, crowd_log_score=-0.22, computed_at=NOW))
    db_session.add(Score(question_id=done.id, user_id=alice.id, resolution_event_id=event.id, forecasts=1,
                         first_forecast_at=NOW - timedelta(days=50), last_forecast_at=NOW - timedelta(days=50),
                         active_days=30, brier=0.08, relative_brier=0.0, log_score=-0.22, baseline=50.0,
                         coverage=0.75, computed_at=NOW))  # bin sums NULL: not yet eligible
    db_session.flush()
    rebuild_stats(db_session)  # the Score row was written by hand, not by a rescore (issue 14's aggregates)
    tokens = {u.username: create_token(db_session, clock, u, "script").clear for u in (alice, bob, admin)}
    db_session.commit()
    return {"tokens": tokens, "questions": (binary, multi, closed, done)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_question_list_filters_and_pages_with_a_cursor(crowd_public, client, world):
    body = client.get("/api/v1/questions").get_json()
    assert [q["slug"] for q in body["items"]] == ["vote", "rain"]  # open ones, by close
    assert body["items"][1]["crowd"] == {"probabilities": {"yes": 0.4, "no": 0.6}, "forecasters": 1}
    assert body["next_cursor"] is None
    assert [q["slug"] for q in client.get("/api/v1/questions?status=all&tag=weather").get_json()["items"]] == [
        "done", "rain"]
    first = client.get("/api/v1/questions?status=all&limit=2").get_json()
    second = client.get(f"/api/v1/questions?status=all&limit=2&cursor={first['next_cursor']}").get_json()
    assert len(first["items"]) == 2 and second["next_cursor"] is None
    assert {q["slug"] for q in first["items"] + second["items"]} == {"rain", "vote", "past", "done"}
    bad = client.get("/api/v1/questions?limit=201")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "limit"
    assert client.get("/api/v1/questions?cursor=nonsense").get_json()["error"]["field"] == "cursor"


def test_question_detail_with_outcome_once_resolved(client, world):
    rain = client.get("/api/v1/questions/rain").get_json()
    assert rain["status"] == "open" and rain["can_forecast"] and rain["outcome"] is None
    assert rain["resolution_criteria"] and [o["key"] for o in rain["options"]] == ["yes", "no"]
    done = client.get("/api/v1/questions/done").get_json()
    assert done["outcome"]["outcome"] == "yes" and done["outcome"]["decided_by"] == "root"
    missing = client.get("/api/v1/questions/nope")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"


def test_submit_forecast_binary_shorthand_and_server_time(client, world, db_session):
    response = client.post("/api/v1/questions/rain/forecasts", json={"probabilities": {"yes": 0.7}, "rationale": "wet"},
                           headers=bearer(world["tokens"]["alice"]))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["probabilities"] == {"yes": 0.7, "no": pytest.approx(0.3)}
    assert body["created_at"] == "2026-11-25T12:00:00Z" and body["rationale"] == "wet"
    mine = client.get("/api/v1/me/forecasts", headers=bearer(world["tokens"]["alice"])).get_json()
    assert [(f["question"], f["id"]) for f in mine["items"]] == [("done", mine["items"][0]["id"]), ("rain", body["id"])]
    only = client.get("/api/v1/me/forecasts?question=rain", headers=bearer(world["tokens"]["alice"])).get_json()
    assert [f["id"] for f in only["items"]] == [body["id"]]


@pytest.mark.parametrize(("payload", "field"), [
    ({"probabilities": {"yes": 1.5}}, "probabilities.yes"),
    ({"probabilities": {"yes": 0.5, "no": 0.6}}, "probabilities"),
    ({"probabilities": {"maybe": 0.5}}, "probabilities"),
    ({"probabilities": {"yes": "lots"}}, "probabilities.yes"),
    ({"probabilities": {}}, "probabilities.yes"),
    ({"probabilities": {"yes": 0.5}, "extra": 1}, "extra"),
    ({}, "probabilities"),
    ({"probabilities": {"yes": 0.5}, "rationale": "x" * 5001}, "rationale"),
])
def test_bad_forecasts_are_422_naming_the_field_and_store_nothing(client, world, db_session, payload, field):
    response = client.post("/api/v1/questions/rain/forecasts", json=payload, headers=bearer(world["tokens"]["alice"]))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and error["field"] == field and error["message"]
    assert db_session.scalar(select(func.count()).select_from(Forecast)) == 2


def test_multiple_choice_forecast_needs_every_option(client, world):
    token = bearer(world["tokens"]["bob"])
    ok = client.post("/api/v1/questions/vote/forecasts", json={"probabilities": {"a": 0.5, "b": 0.3, "c": 0.2}},
                     headers=token)
    assert ok.status_code == 201
    short = client.post("/api/v1/questions/vote/forecasts", json={"probabilities": {"a": 0.5}}, headers=token)
    assert short.status_code == 422 and short.get_json()["error"]["field"] == "probabilities.b"


def test_forecast_on_a_closed_question_is_409(client, world):
    response = client.post("/api/v1/questions/past/forecasts", json={"probabilities": {"yes": 0.5}},
                           headers=bearer(world["tokens"]["alice"]))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"


def test_api_crowd_follows_the_crowd_privacy_rule(client, world, settings):
    """Issue 14's rule through convert.crowd_for: an open question's crowd needs enough forecasters
    and the viewer's own forecast; a question whose forecasting ended shows it to everyone."""
    settings.crowd_min_forecasters, settings.crowd_after_own_forecast = 1, True
    tokens = world["tokens"]

    def rain(token=None):
        items = client.get("/api/v1/questions", headers=bearer(token) if token else {}).get_json()["items"]
        listed = next(q["crowd"] for q in items if q["slug"] == "rain")
        one = client.get("/api/v1/questions/rain", headers=bearer(token) if token else {}).get_json()["crowd"]
        assert listed == one
        return one

    assert rain() is None and rain(tokens["alice"]) is None  # neither has forecast on it
    assert rain(tokens["bob"]) == {"probabilities": {"yes": 0.4, "no": 0.6}, "forecasters": 1}
    settings.crowd_min_forecasters = 2
    assert rain(tokens["bob"]) is None  # below the minimum, even for a forecaster
    done = client.get("/api/v1/questions/done").get_json()["crowd"]
    assert done is not None and done["forecasters"] == 1  # decided: shown to everyone


def test_writes_need_authentication_and_json(client, world):
    anonymous = client.post("/api/v1/questions/rain/forecasts", json={"probabilities": {"yes": 0.5}})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    not_json = client.post("/api/v1/questions/rain/forecasts", data="yes=0.5",
                           headers=bearer(world["tokens"]["alice"]))
    assert not_json.status_code == 415
    broken = client.post("/api/v1/questions/rain/forecasts", data="{", content_type="application/json",
                         headers=bearer(world["tokens"]["alice"]))
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "invalid_json"


def test_scoreboards_have_the_csv_columns(client, world):
    from tracker.domain.csv_export import SCORE_COLUMNS, SCOREBOARD_COLUMNS

    board = client.get("/api/v1/scoreboard").get_json()
    assert list(board["rows"][0]) == SCOREBOARD_COLUMNS
    assert board["rows"][0]["forecaster"] == "alice" and board["rows"][0]["mean_brier"] == 0.08
    assert board["rows"][0]["calibration"] is None  # no calibration samples: NaN in numbers, null in JSON
    assert client.get("/api/v1/scoreboard?tag=politics").get_json()["rows"] == []
    assert len(client.get("/api/v1/scoreboard?question=done").get_json()["rows"]) == 1
    assert client.get("/api/v1/scoreboard?question=nope").status_code == 404
    assert client.get("/api/v1/scoreboard?since=2026-11-01&until=2026-11-30").get_json()["rows"][0]["rank"] == 1
    window = client.get("/api/v1/scoreboard?since=2026-11-30&until=2026-11-01")
    assert window.status_code == 422
    scores = client.get("/api/v1/me/scores", headers=bearer(world["tokens"]["alice"])).get_json()["items"]
    assert list(scores[0]) == SCORE_COLUMNS and scores[0]["question"] == "done"
    assert client.get("/api/v1/me/scores", headers=bearer(world["tokens"]["bob"])).get_json()["items"] == []


def test_me(client, world):
    me = client.get("/api/v1/me", headers=bearer(world["tokens"]["bob"])).get_json()
    assert me["username"] == "bob" and me["role"] == "forecaster" and me["auth"] == "token"
    assert me["token_name"] == "script"


def test_admin_operations_refuse_forecaster_tokens(client, world):
    token = bearer(world["tokens"]["alice"])
    for method, url in (("post", "/api/v1/questions/past/resolve"), ("post", "/api/v1/questions/past/annul"),
                        ("get", "/api/v1/questions/past/audit"), ("get", "/api/v1/admin/resolution-queue")):
        kwargs = {"json": {"outcome": "yes", "reason": "x"}} if method == "post" else {}
        response = getattr(client, method)(url, headers=token, **kwargs)
        assert response.status_code in (403, 422), url
    assert client.post("/api/v1/questions/past/resolve", json={"outcome": "yes"}, headers=token).status_code == 403


def test_admin_resolve_correct_annul_with_audit(client, world, db_session):
    token = bearer(world["tokens"]["root"])
    queue = client.get("/api/v1/admin/resolution-queue", headers=token).get_json()
    assert [w["question"]["slug"] for w in queue["waiting"]] == ["past"]
    first = client.post("/api/v1/questions/past/resolve", json={"outcome": "no"}, headers=token)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["question"]["status"] == "resolved" and not first.get_json()["correction"]
    again = client.post("/api/v1/questions/past/resolve", json={"outcome": "yes"}, headers=token)
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "correction"
    fixed = client.post("/api/v1/questions/past/resolve", json={"outcome": "yes", "correction": True}, headers=token)
    assert fixed.get_json()["correction"] and fixed.get_json()["previous"]["outcome"] == "no"
    annulled = client.post("/api/v1/questions/past/annul", json={"reason": "ambiguous", "correction": True},
                           headers=token)
    assert annulled.get_json()["outcome"]["action"] == "annul"
    kinds = [e["kind"] for e in client.get("/api/v1/questions/past/audit", headers=token).get_json()["items"]
             if e["kind"] != "status"]
    assert kinds == ["resolve", "correction", "annul"]
    early = client.post("/api/v1/questions/rain/resolve", json={"outcome": "yes"}, headers=token)
    assert early.status_code == 409 and early.get_json()["error"]["field"] == "occurred_at"


def test_unknown_routes_and_methods_are_json(client):
    for url in ("/api/v1/nothing", "/api/other"):
        response = client.get(url)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.delete("/api/v1/questions")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
    # Pages keep their HTML error page.
    assert client.get("/no-such-page").mimetype == "text/html"


def test_too_large_body_is_413_json(app, client, world):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/api/v1/questions/rain/forecasts", json={"probabilities": {"yes": 0.5},
                                                                     "rationale": "x" * 5000},
                           headers=bearer(world["tokens"]["alice"]))
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"


def test_a_window_ending_on_the_last_representable_day_is_refused_not_a_crash(client):
    response = client.get("/api/v1/scoreboard?until=9999-12-31")
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "until"
    assert client.get("/api/v1/scoreboard?since=0001-01-01&until=9999-12-30").status_code == 200
    assert client.get("/scoreboard?until=9999-12-31").status_code == 400


def test_admin_occurred_at_outside_the_calendar_is_422(client, world):
    response = client.post("/api/v1/questions/past/resolve",
                           json={"outcome": "yes", "occurred_at": "0001-01-01T00:00:00+05:00"},
                           headers=bearer(world["tokens"]["root"]))
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "occurred_at"
