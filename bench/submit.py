"""Forecast submission through the real page (login, CSRF, validation, crowd upkeep) against a
bare Flask insert endpoint, both under gunicorn in the same run, interleaved in rounds.

Usage: python bench/submit.py [--url URL] [--clients 24] [--rounds 6] [--round-seconds 5]

Each of ``--clients`` threads is a different bench user posting to a random open question.
Prints ``submit_ratio_to_bare`` (real req/s over bare req/s) and ``submit_p99_ms`` (real).
"""
from __future__ import annotations

import argparse
import random
import threading
import time

from common import BENCH_PASSWORD, add_common, bench_line, percentile
from server import Client, Gunicorn
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from tracker.models import Question


def _open_slugs(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_bare (id serial PRIMARY KEY, user_id int, "
                          "created_at timestamptz, p double precision)"))
    with Session(engine) as session:
        slugs = list(session.scalars(select(Question.slug).where(Question.status == "open", Question.kind == "binary")))
    engine.dispose()
    return slugs


def _round(clients: list[Client], make_request, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    failures: list[int] = []
    stop = time.monotonic() + seconds

    def loop(client: Client, index: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = make_request(client, index)
            latencies.append((time.perf_counter() - started) * 1000)
            if status not in (201, 302, 303):
                failures.append(status)

    threads = [threading.Thread(target=loop, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. HTTP {failures[0]}")
    return len(latencies), latencies


def run(url: str, n_clients: int, rounds: int, round_seconds: float) -> None:
    slugs = _open_slugs(url)
    with Gunicorn(url) as real, Gunicorn(url, app="bare_app:app") as bare:
        clients = []
        for i in range(n_clients):
            client = Client(real.base, follow_redirects=False)
            client.login(f"f{i + 1}", BENCH_PASSWORD)
            client.token = client.csrf(f"/q/{slugs[0]}")
            clients.append(client)
        bare_clients = [Client(bare.base, follow_redirects=False) for _ in range(n_clients)]

        def real_post(client: Client, _i: int) -> int:
            p = random.randint(5, 95)
            return client.post(f"/q/{random.choice(slugs)}", {"csrf_token": client.token, "p0": str(p),
                                                               "rationale": ""})[0]

        def bare_post(client: Client, i: int) -> int:
            return client.post("/bare", {"u": str(i), "p": str(random.random())})[0]

        totals = {"real": [0, []], "bare": [0, []]}  # type: dict[str, list]
        for r in range(rounds):
            # Interleaved, alternating which goes first, so load from elsewhere hits both alike.
            order = [("real", clients, real_post), ("bare", bare_clients, bare_post)]
            for name, group, request in (order if r % 2 == 0 else order[::-1]):
                count, latencies = _round(group, request, round_seconds)
                totals[name][0] += count
                totals[name][1].extend(latencies)
        seconds = rounds * round_seconds
        real_rate, bare_rate = totals["real"][0] / seconds, totals["bare"][0] / seconds
        print(f"  real: {real_rate:.0f} req/s, p99 {percentile(totals['real'][1], 99):.0f} ms; "
              f"bare: {bare_rate:.0f} req/s, p99 {percentile(totals['bare'][1], 99):.0f} ms", flush=True)
        bench_line("submit_ratio_to_bare", real_rate / bare_rate, "ratio")
        bench_line("submit_p99_ms", percentile(totals["real"][1], 99), "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(parser)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--round-seconds", type=float, default=5)
    args = parser.parse_args()
    run(args.url, args.clients, args.rounds, args.round_seconds)


if __name__ == "__main__":
    main()
