"""The bare insert endpoint forecast submission is compared with: Flask, one SQLAlchemy engine,
one INSERT and a commit per POST, under the same gunicorn settings (``gunicorn bare_app:app``)."""
from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["BENCH_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1))
app = Flask(__name__)


@app.post("/bare")
def bare() -> tuple[str, int]:
    """Insert one row from the form and commit."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_bare (user_id, created_at, p) VALUES (:u, :t, :p)"),
                     {"u": int(request.form["u"]), "t": datetime.now(UTC), "p": float(request.form["p"])})
    return "ok", 201
