"""An idempotency storm over HTTP: 100 concurrent retries of one action with one
Idempotency-Key against a running production server (several worker processes).

Exactly one effect (one log entry); every 2xx answer is the first response, byte for byte in
its JSON; every other answer is `409 idempotency_in_flight`; a later retry returns the first
response with `Idempotent-Replayed: true`; the same key with another body is a 422.
"""

from __future__ import annotations

import threading

import pytest
import requests
from stores import STORE_PARAMS

from magic_cube.hammer import Server, hot_configs, make_engine, read_log, seed

RETRIES = 100
KEY = "storm-6f1c2a9e-draw"


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_a_hundred_concurrent_retries_act_exactly_once(kind, tmp_path, postgres_schema):
    url = f"sqlite:///{tmp_path / 'storm.db'}" if kind == "sqlite" else postgres_schema()
    data = seed(url, 3, hot_configs(400))
    lottery = data.activities["lottery"]
    endpoint = f"/v1/activities/{lottery}/actions/draw"
    headers = {"Authorization": f"Bearer {data.tokens['u00000']}", "Idempotency-Key": KEY}
    answers: list[requests.Response | BaseException] = [None] * RETRIES  # type: ignore[list-item]
    barrier = threading.Barrier(RETRIES)

    def retry(i: int, base: str) -> None:
        session = requests.Session()
        try:
            session.get(f"{base}/healthz", timeout=30)  # a warm connection, so all race
            barrier.wait(timeout=60)
            answers[i] = session.post(base + endpoint, json={}, headers=headers, timeout=60)
        except BaseException as exc:  # reported below
            answers[i] = exc
        finally:
            session.close()

    with Server(url, workers=2, log_dir=tmp_path).start() as server:
        threads = [threading.Thread(target=retry, args=(i, server.base_url))
                   for i in range(RETRIES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        errors = [a for a in answers if not isinstance(a, requests.Response)]
        assert not errors, errors[:3]
        ok = [a for a in answers if 200 <= a.status_code < 300]
        others = [a for a in answers if not 200 <= a.status_code < 300]
        assert ok, [(a.status_code, a.text[:200]) for a in answers[:5]]
        first = ok[0].json()
        assert first["ok"] is True and first["action"] == "draw"
        assert all(a.status_code == 200 and a.json() == first for a in ok)
        assert all(a.status_code == 409 and a.json()["error"] == "idempotency_in_flight"
                   for a in others), {(a.status_code, a.text[:120]) for a in others}
        # The original answer is the one not marked as replayed (at most one such).
        assert sum(1 for a in ok if a.headers.get("Idempotent-Replayed") != "true") <= 1

        later = requests.post(server.base_url + endpoint, json={}, headers=headers, timeout=30)
        assert later.status_code == 200
        assert later.headers.get("Idempotent-Replayed") == "true"
        assert later.json() == first
        reused = requests.post(server.base_url + endpoint, json={"params": {"x": 1}},
                               headers=headers, timeout=30)
        assert reused.status_code == 422
        assert reused.json()["error"] == "idempotency_key_reused"

    engine = make_engine(url)
    try:
        log = read_log(engine, lottery)
    finally:
        engine.store.close()
    assert [(e.seq, e.action, e.participant_id) for e in log] == [(1, "draw", "u00000")]
    assert log[0].seq == first["seq"]
    assert log[0].result == first["result"]
    print(f"{kind}: {len(ok)} × 200 (identical), {len(others)} × 409 idempotency_in_flight, "
          f"1 log entry")
