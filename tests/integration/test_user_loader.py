"""The login's account loader (``tracker.web._load_user``): one plain query per request, with the
same result as an ORM load."""
from __future__ import annotations

from sqlalchemy import event, inspect, select

from tests.factories import make_user
from tracker.models import User
from tracker.web import _get_user, _load_user


def test_the_loaded_account_is_a_clean_persistent_object(app, db_session):
    alice = make_user(db_session, "alice", role="admin")
    alice.email = "alice@example.org"
    alice.session_generation = 3
    db_session.commit()
    alice_id = alice.id
    expected = db_session.execute(select(*inspect(User).columns).where(User.id == alice_id)).one()
    db_session.rollback()  # (SQLite: one writer at a time)
    engine = app.extensions["tracker"].engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    session = app.extensions["tracker"].sessions()
    try:
        event.listen(engine, "before_cursor_execute", record)
        try:
            user = _get_user(session, alice_id)
            loaded = {attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs}
            assert _get_user(session, alice_id) is user  # the session's own copy: no second query
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert len([s for s in statements if "FROM users" in s]) == 1, "\n---\n".join(statements)
        assert loaded == dict(zip([attr.key for attr in inspect(User).column_attrs], expected, strict=True))
        state = inspect(user)
        assert state.persistent and not state.unloaded and not session.dirty and not session.new
        assert session.get(User, alice_id) is user
        assert _get_user(session, 10_000) is None
        user.email = "new@example.org"  # and it writes like any loaded object
        session.commit()
        db_session.expire_all()
        assert db_session.get(User, alice_id).email == "new@example.org"
    finally:
        session.close()


def test_an_old_session_generation_or_a_bad_id_is_refused(app, db_session):
    bob = make_user(db_session, "bob")
    bob.session_generation = 2
    db_session.commit()
    with app.test_request_context("/"):
        assert _load_user(f"{bob.id}.2").username == "bob"
    with app.test_request_context("/"):
        assert _load_user(f"{bob.id}.1") is None
        assert _load_user(f"{bob.id}") is None
        assert _load_user("x.2") is None
