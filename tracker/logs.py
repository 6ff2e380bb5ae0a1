"""Logging for the tracker's processes: one ``logging.config.dictConfig`` call per process.

The entry points call :func:`configure_logging` with ``Settings.log_level`` (``TRACKER_LOG_LEVEL``):
the WSGI module (gunicorn, also under ``tracker serve``), and the ``tracker`` command line (which
includes ``tracker scheduler``) once it reads its settings from the environment. Nothing configures
logging at import time or inside ``create_app``, so the test suite and anyone embedding the app
keep control of their own logging.

Records go to stderr as ``time logger LEVEL message``; loggers that already exist (gunicorn's own)
are left alone. APScheduler logs every job run at INFO, so it is held at WARNING unless the level
is DEBUG; the tracker's jobs log what they changed themselves.
"""
from __future__ import annotations

import logging
import logging.config
from typing import Any

from .config import LOG_LEVELS

__all__ = ["LOG_FORMAT", "configure_logging", "logging_config"]

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

_configured = False


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The ``dictConfig`` dictionary for ``level``, one of :data:`tracker.config.LOG_LEVELS`."""
    level = level.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}")
    keep = level == "DEBUG" or logging.getLevelNamesMapping()[level] >= logging.WARNING
    quiet = level if keep else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"},
        },
        "loggers": {"apscheduler": {"level": quiet}},
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure_logging(level: str = "INFO", *, force: bool = False) -> bool:
    """Configure this process's logging at ``level``; only the first call does anything (unless
    ``force``). Returns whether this call configured it."""
    global _configured
    if _configured and not force:
        return False
    logging.config.dictConfig(logging_config(level))
    _configured = True
    return True
