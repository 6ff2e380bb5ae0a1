"""Schema-driven fuzzing: schemathesis generates requests for every operation of the OpenAPI
document and sends them to a live gunicorn server (``tracker serve``), authenticated with a
forecaster's token; no response may be a 5xx or contradict the document (status, content type,
body schema). Bounded and derandomised, so it takes well under two minutes and fails the same way
twice."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.browser.conftest import ROOT, seed, serve_process
from tracker.domain.tokens import TOKEN_RE

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 25
NEGATIVE_EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(base URL, forecaster token) of a gunicorn server over its own seeded SQLite file."""
    folder = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite:///{folder / 'fuzz.sqlite3'}"
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_SECRET_KEY": "fuzz-secret",
           "TRACKER_INSTANCE": str(folder), "TRACKER_ENV": "test", "TRACKER_API_RATE_LIMIT": "100000 per minute",
           "TRACKER_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "tracker", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    seed(database_url)  # forecasters ana, ben, chloe; open, multiple-choice and resolved questions
    created = subprocess.run([sys.executable, "-m", "tracker", "tokens", "create", "ana", "--name", "fuzz"],
                             env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    token = created.stdout.strip()
    assert TOKEN_RE.match(token), created
    with serve_process(env, folder, wait_path="/api/v1/openapi.json") as url:
        yield url, token


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    url, _token = fuzz_server
    return schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")


def _run(operation, token: str, mode: GenerationMode, examples: int, **fixed) -> None:
    """Send ``examples`` generated requests for ``operation``; raise on the first failed check."""

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def check(case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=10)

    check()


def test_api_conforms_to_its_document(api_schema, fuzz_server):
    """Every operation: positive examples, negative ones (invalid by the document) and, where the
    path names a question, positive examples against real questions (open and resolved)."""
    url, token = fuzz_server
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    document = httpx.get(f"{url}/api/v1/openapi.json").json()
    documented = {f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods}
    # Every operation but the document itself (schemathesis does not fuzz the schema's own URL).
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}
    for operation in operations:
        runs: list[tuple[GenerationMode, int, dict]] = [(GenerationMode.POSITIVE, EXAMPLES_PER_OPERATION, {}),
                                                        (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, {})]
        if "{slug}" in operation.path:
            runs += [(GenerationMode.POSITIVE, EXAMPLES_PER_OPERATION, {"path_parameters": {"slug": slug}})
                     for slug in ("browser-binary", "browser-resolved")]
        if operation.label == "POST /questions/{slug}/forecasts":
            # Generated option keys are almost never the question's: send valid forecasts too, so the
            # 201 answer is checked against the document as well.
            runs.append((GenerationMode.POSITIVE, 3, {"path_parameters": {"slug": "browser-binary"},
                                                       "body": {"probabilities": {"yes": 0.7}}}))
        for mode, examples, fixed in runs:
            try:
                _run(operation, token, mode, examples, **fixed)
            except Unsatisfiable:
                # No invalid request exists for this operation (nothing it takes can be wrong).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # collect every operation's failure, then report them together
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}, {fixed}): {exc}")
    assert not failures, "\n\n".join(failures)
