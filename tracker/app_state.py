"""What the web app, the CLI and the scheduler share: settings, engine, session factory, clock."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock, SystemClock
from .config import Settings
from .db import make_engine, make_read_session_factory, make_session_factory


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    read_sessions: sessionmaker[Session]  # deferred on SQLite: GET requests and exports


def build_state(settings: Settings, clock: Clock | None = None) -> AppState:
    """Create the engine and session factory for ``settings`` (no connection is opened yet)."""
    engine = make_engine(settings.database_url)
    return AppState(settings, engine, make_session_factory(engine), clock or SystemClock(),
                    make_read_session_factory(engine))


def init_state(app: Flask, settings: Settings, clock: Clock | None = None) -> AppState:
    state = build_state(settings, clock)
    app.extensions["tracker"] = state
    return state


def state() -> AppState:
    """The current app's state (inside an app or request context)."""
    return current_app.extensions["tracker"]
