"""Fuzzing the HTTP API.

1. schemathesis (v4) against the app's own `/openapi.json`, through the WSGI app: every
   operation, with every built-in check (no 5xx, status codes, content types, headers and
   bodies as documented, negative data refused, positive data accepted …), authenticated with
   a real API key or participant token, on a database seeded with a live activity of each
   template (with rooms); path parameters are real ids most of the time, so generation gets
   past the 404s to the code behind them.
2. A hypothesis stateful test (`RuleBasedStateMachine`) through the Flask test client:
   participant actions on each template, polls with ETags, pause/resume, time moving on (a
   controllable clock), with `invariants()` checked after every step on one activity in turn.

Short for CI (a bounded number of examples per operation); more with `MAGIC_CUBE_LONG=1`.
"""

from __future__ import annotations

import atexit
import copy
import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from engine_helpers import catalog, invariants
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from reliability_figures import COUNTS
from schemathesis.checks import positive_data_acceptance

from magic_cube.app import create_app
from magic_cube.hammer import TEMPLATES, hot_configs, long_mode

LONG = long_mode()
EXAMPLES = 100 if LONG else 25
START = 1_794_362_400  # 2026-11-11T02:00:00Z, 10:00 in Shanghai


def seeded_app(path, catalog, clock=None):
    """An app on a SQLite file with a merchant, a live activity of each template, a few rooms
    of each and events in the outbox. Rate limits are off: the fuzzer is one fast client."""
    app = create_app({
        "CATALOG": catalog, "TESTING": True,
        "FORECAST_TIME_BUDGET": 0.5,  # seconds per forecast: many cases, each bounded
        "SETTINGS": {"database_url": f"sqlite:///{path}", "rate_limit_enabled": False,
                     "long_poll_max": 1, "long_poll_interval": 0.1},
        **({"CLOCK": clock} if clock is not None else {}),
    })
    engine = app.extensions["magic_cube"]
    merchant, key = engine.create_merchant("Fuzz shop")
    configs = hot_configs(4000)
    ids = {}
    for template in TEMPLATES:
        created = engine.create_activity(merchant, template, copy.deepcopy(configs[template]))
        ids[template] = engine.publish(merchant, created["id"])["id"]
    from magic_cube.engine import Participant

    rooms = []
    for i, (template, action, params) in enumerate([
            ("group_buy", "start", {}), ("bargain", "start", {}),
            ("gift", "send", {"shares": 3}), ("group_buy", "start", {}),
            ("bargain", "start", {}), ("gift", "send", {"shares": 2})]):
        answer = engine.act(ids[template], action, Participant(f"seed{i}"), params)
        assert answer.status == 200, answer.body
        rooms.append(answer.body["room"])
    engine.act(ids["lottery"], "draw", Participant("seed0"))
    return app, engine, merchant, key, ids, rooms


def fuzz_schema():
    """The app's schema over a seeded app in a temporary directory (built at import: the
    lazy `schemathesis.pytest.from_fixture` breaks on pytest 9, whose nodes have no
    `_nodeid`)."""
    directory = Path(tempfile.mkdtemp(prefix="mc-fuzz-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    app, engine, merchant, key, ids, rooms = seeded_app(directory / "fuzz.db", catalog())
    atexit.register(engine.store.close)
    token = engine.participant_token(merchant, "fuzzer", "Fuzzy")[0]
    with engine.store.transaction(write=False) as tx:
        events = [str(o.id) for a in ids.values() for o in tx.list_outbox(a, 0, 10)]
    choices = {
        "activity_id": list(ids.values()),
        "room_id": rooms,
        "action": ["draw", "grant", "start", "join", "help", "buy", "send", "claim", "expire"],
        "template_id": list(TEMPLATES),
        "event_id": events,
    }

    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # No NUL in generated text: the API refuses it anywhere in a request (PostgreSQL text
    # cannot hold it), as documented for `400 invalid_json` in docs/api.md.
    schema.config.generation.update(max_examples=EXAMPLES, database="none", allow_x00=False)
    schema.config.seed = 20261111

    def flatmap_path_parameters(context, path_parameters: dict[str, Any]):
        """Real ids four times in five, the generated ones otherwise."""
        keys = sorted(k for k in (path_parameters or {}) if k in choices)
        if not keys:
            return st.just(path_parameters)

        def pick(real: tuple) -> dict[str, Any]:
            out = dict(path_parameters)
            for name, value in zip(keys, real, strict=True):
                if value is not None:
                    out[name] = value
            return out

        return st.tuples(*[st.one_of(st.sampled_from(choices[k]), st.none())
                           .filter(lambda v: v is not None or random.random() < 0.2)
                           for k in keys]).map(pick)

    schema.hook(flatmap_path_parameters)

    @schema.auth()
    class RealCredentials:
        """The merchant's API key on /v1/merchant/…, a participant token elsewhere."""

        def get(self, case, context):
            return key if case.path.startswith("/v1/merchant") else token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


schema = fuzz_schema()


# Refusals that mean "the request does not match the endpoint's documented schema".
REQUEST_SCHEMA_CODES = {"validation_error", "invalid_json", "bad_request",
                        "invalid_idempotency_key", "invalid_wait"}


def schema_valid_requests_pass_request_validation(ctx, response, case):
    """schemathesis' `positive_data_acceptance`, narrowed to what an OpenAPI document can
    promise here. The document describes the request's shape; what the activity's template
    then says about it (`params` against the action's own schema, a config against the
    template's, a room that is full, a key used for another body) is domain logic answered
    409/422 with its own code. So a schema-valid request may be refused by the domain, but
    never by the request-schema layer."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code in (400, 422):
        try:
            code = json.loads(response.content).get("error")
        except (ValueError, AttributeError):
            code = None
        if code in REQUEST_SCHEMA_CODES:
            raise AssertionError(f"a schema-valid request was refused as {response.status_code}"
                                 f" {code}: {response.content[:500]!r}")
    return None


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    COUNTS["fuzz cases"] += 1
    COUNTS[f"fuzz {case.operation.label}"] += 1
    response = case.call_and_validate(
        excluded_checks=[positive_data_acceptance],
        additional_checks=[schema_valid_requests_pass_request_validation])
    assert response.status_code < 500


# the stateful test ------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


PEOPLE = [f"p{i}" for i in range(8)]


class ApiMachine(RuleBasedStateMachine):
    """Participants and the merchant acting through the API while the clock moves; every
    correctness rule holds after every step."""

    catalog = None
    directory = None
    runs = 0
    steps = 0
    checks = 0

    @initialize()
    def setup(self) -> None:
        type(self).runs += 1
        self.clock = Clock()
        path = type(self).directory / f"machine-{type(self).runs}.db"
        (self.app, self.engine, self.merchant, self.key, self.ids,
         seeded) = seeded_app(path, type(self).catalog, self.clock)
        self.client = self.app.test_client()
        self.tokens = {p: self.engine.participant_token(self.merchant, p, p.upper(),
                                                        ttl=365 * 86400)[0]
                       for p in PEOPLE}
        self.rooms: dict[str, list[tuple[str, str]]] = {t: [] for t in TEMPLATES}
        for i, room in enumerate(seeded):  # seeded_app opens a group, a bargain, a pack, twice
            self.rooms[("group_buy", "bargain", "gift")[i % 3]].append((room, f"seed{i}"))
        self.etags: dict[str, str] = {}
        self.paused: set[str] = set()
        self.turn = 0

    def teardown(self) -> None:
        if hasattr(self, "engine"):
            self.engine.store.close()

    def act(self, template: str, action: str, who: str, room: str | None = None,
            params: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if room is not None:
            body["room"] = room
        if params:
            body["params"] = params
        r = self.client.post(f"/v1/activities/{self.ids[template]}/actions/{action}",
                             json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert r.status_code < 500, r.get_json()
        answer = r.get_json()
        COUNTS[f"stateful {template}.{action} {r.status_code} {answer.get('error', 'ok')}"] += 1
        if self.ids[template] in self.paused:
            assert r.status_code == 409 and answer["error"] == "activity_not_live", answer
        if r.status_code == 200:
            assert answer["ok"] and answer["action"] == action
            if action in ("start", "send"):
                self.rooms[template].append((answer["room"], who))
        else:
            assert set(answer) >= {"error", "message", "status"} and \
                answer["status"] == r.status_code, answer
        return answer

    @rule(who=st.sampled_from(PEOPLE))
    def draw(self, who):
        self.act("lottery", "draw", who)

    @rule(template=st.sampled_from(["group_buy", "bargain"]), who=st.sampled_from(PEOPLE))
    def start(self, template, who):
        self.act(template, "start", who)

    @rule(who=st.sampled_from(PEOPLE), shares=st.integers(1, 6))
    def send(self, who, shares):
        self.act("gift", "send", who, params={"shares": shares})

    @precondition(lambda self: any(self.rooms[t] for t in ("group_buy", "bargain", "gift")))
    @rule(data=st.data(), who=st.sampled_from(PEOPLE))
    def join_a_room(self, data, who):
        template = data.draw(st.sampled_from([t for t in ("group_buy", "bargain", "gift")
                                              if self.rooms[t]]))
        room, initiator = data.draw(st.sampled_from(self.rooms[template][-3:]))
        action = {"group_buy": "join", "bargain": "help", "gift": "claim"}[template]
        self.act(template, action, who, room)

    @precondition(lambda self: any(who in self.tokens for _, who in self.rooms["bargain"]))
    @rule(data=st.data())
    def buy(self, data):
        mine = [(room, who) for room, who in self.rooms["bargain"] if who in self.tokens]
        room, initiator = data.draw(st.sampled_from(mine[-3:]))
        self.act("bargain", "buy", initiator, room)

    @rule(template=st.sampled_from(TEMPLATES), who=st.sampled_from(PEOPLE),
          view=st.sampled_from(["public", "me", "room"]), data=st.data())
    def poll(self, template, who, view, data):
        """A poll answers with an ETag; the same poll again with it, nothing having changed
        in between, is a 304 with the same ETag and no body."""
        aid = self.ids[template]
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if view == "room" and self.rooms.get(template):
            room, _ = data.draw(st.sampled_from(self.rooms[template]))
            url = f"/v1/activities/{aid}/rooms/{room}"
        elif view == "me":
            url = f"/v1/activities/{aid}/me"
        else:
            url, headers = f"/v1/activities/{aid}", {}
        key = f"{url}|{who}"
        if key in self.etags:  # something may have changed since: 200 or 304
            r = self.client.get(url, headers={**headers, "If-None-Match": self.etags[key]})
            assert r.status_code in (200, 304), r.get_json()
        r = self.client.get(url, headers=headers)
        assert r.status_code == 200, r.get_json()
        etag = r.headers["ETag"]
        again = self.client.get(url, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304 and again.headers["ETag"] == etag and not again.data
        self.etags[key] = etag

    @rule(template=st.sampled_from(TEMPLATES))
    def pause_or_resume(self, template):
        aid = self.ids[template]
        verb = "resume" if aid in self.paused else "pause"
        r = self.client.post(f"/v1/merchant/activities/{aid}/{verb}",
                             headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["status"] == ("live" if verb == "resume" else "paused")
        (self.paused.discard if verb == "resume" else self.paused.add)(aid)

    @rule(seconds=st.sampled_from([1, 59, 600, 3600, 3600, 6 * 3600, 25 * 3600]))
    def time_passes(self, seconds):
        self.clock.now += seconds

    @rule(who=st.sampled_from(PEOPLE), template=st.sampled_from(TEMPLATES))
    def heartbeat(self, who, template):
        r = self.client.post(f"/v1/activities/{self.ids[template]}/heartbeat",
                             headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert r.status_code == 200 if self.ids[template] not in self.paused \
            else r.status_code in (200, 409), r.get_json()

    @invariant()
    def rules_hold(self):
        """`invariants()` (with replay) on one activity per step, in turn."""
        if not hasattr(self, "engine"):
            return
        type(self).steps += 1
        template = TEMPLATES[self.turn % len(TEMPLATES)]
        self.turn += 1
        problems = invariants(self.engine, self.ids[template])
        type(self).checks += 1
        assert not problems, problems


ApiMachine.TestCase.settings = settings(
    max_examples=60 if LONG else 12, stateful_step_count=40 if LONG else 25, deadline=None,
    suppress_health_check=list(HealthCheck))


def test_api_state_machine_keeps_every_rule(tmp_path, figures):
    ApiMachine.catalog, ApiMachine.directory = catalog(), tmp_path
    ApiMachine.runs = ApiMachine.steps = ApiMachine.checks = 0
    ApiMachine.TestCase().runTest()
    answers = {k.removeprefix("stateful "): n for k, n in sorted(COUNTS.items())
               if k.startswith("stateful ")}
    figures([f"stateful: {ApiMachine.runs} runs, {ApiMachine.steps} steps, "
             f"{ApiMachine.checks} invariants() checks",
             f"answers: {json.dumps(answers)}"])
