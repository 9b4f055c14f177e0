"""The load: concurrent HTTP clients playing shoppers, plus the merchant's backend.

Threads with `requests.Session`s send lottery draws, group-buy starts and joins on a few
groups, bargain starts, helps and buys, gift sends and claims, mixed with polls
(`If-None-Match`) and heartbeats; every answer is counted by status and every action
acknowledged with a 2xx is kept (with its `seq`) for verification.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from magic_cube.hammer.rooms import Rooms
from magic_cube.hammer.seeding import Seed
from magic_cube.hammer.tally import Ack, Tally
from magic_cube.hammer.workload import HOT_ROOMS, TEMPLATES

if TYPE_CHECKING:
    import requests


class Hammer:
    """Concurrent HTTP clients on the hot activities of `seed`, spread over `urls`.

    With `actions`, the clients stop after that many participant actions in all; with
    `actions=None` they go on until `stop()` (the crash scenario), riding out lost connections.
    """

    def __init__(self, seed: Seed, urls: list[str], clients: int, actions: int | None,
                 poll_ratio: float = 0.45, heartbeat_ratio: float = 0.03,
                 tolerate_disconnects: bool = False, rng_seed: int | None = None) -> None:
        self.seed = seed
        self.urls = urls
        self.clients = clients
        self.budget = actions
        self.poll_ratio = poll_ratio
        self.heartbeat_ratio = heartbeat_ratio
        self.tolerate = tolerate_disconnects or actions is None
        self.rng_seed = random.randrange(2**32) if rng_seed is None else rng_seed
        self.tally = Tally()
        self.rooms = Rooms()
        self._started = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._crashed: list[BaseException] = []
        self.edits: Counter = Counter()  # activity -> live config edits acknowledged
        self.seen: dict[tuple[str, str | None], tuple[str, bytes]] = {}  # view -> last 200
        self.settled_checked = 0
        self.started_at = 0.0
        self.elapsed = 0.0

    # running --------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = time.monotonic()
        for i in range(self.clients + 1):  # the last one is the merchant's backend
            t = threading.Thread(target=self._client_guarded, args=(i,), daemon=True,
                                 name=f"hammer-{i}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> Tally:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.elapsed = time.monotonic() - self.started_at
        if self._crashed:
            raise RuntimeError(f"a hammer client crashed: {self._crashed[0]!r}") \
                from self._crashed[0]
        return self.tally

    def run(self, timeout: float | None = None) -> Tally:
        self.start()
        try:
            return self.join(timeout)
        finally:
            self.stop()

    def _take(self) -> bool:
        """Claim one action of the budget; False when the run is over."""
        if self._stop.is_set():
            return False
        if self.budget is None:
            return True
        with self.tally.lock:
            if self._started >= self.budget:
                return False
            self._started += 1
            return True

    def _client_guarded(self, index: int) -> None:
        try:
            if index == self.clients:
                self._merchant()
            else:
                self._client(index)
        except BaseException as exc:  # reported by join()
            self._crashed.append(exc)
            self._stop.set()

    def _client(self, index: int) -> None:
        import requests

        rng = random.Random(self.rng_seed * 1000 + index)
        session = requests.Session()
        base = self.urls[index % len(self.urls)]
        etags: dict[str, str] = {}
        people = self.seed.participants
        while True:
            roll = rng.random()
            if roll < self.poll_ratio:
                if self._stop.is_set():
                    break
                self._poll(session, base, rng, people, etags)
                continue
            if roll < self.poll_ratio + self.heartbeat_ratio:
                if self._stop.is_set():
                    break
                template = rng.choice(TEMPLATES)
                self._send(session, "heartbeat", "POST",
                           f"{base}/v1/activities/{self.seed.activities[template]}/heartbeat",
                           rng.choice(people))
                continue
            if not self._take():
                break
            self._act(session, base, rng, rng.choice(TEMPLATES), people)
        session.close()

    def _merchant(self) -> None:
        """The merchant's backend, beside the shoppers: grants extra draws now and then, and
        puts more stock on sale (a live config edit) twice while buyers compete for it."""
        import requests

        rng = random.Random(self.rng_seed * 1000 - 1)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.seed.api_key}"}
        span = self.budget or 600  # a continuous run tops up every 600 actions
        grant_every = max(span // 25, 10)
        next_grant, top_ups = grant_every, [span // 4, span // 2]
        done = 0
        while not self._stop.is_set() and (self.budget is None or self._started < self.budget):
            sent = self.tally.actions
            base = rng.choice(self.urls)
            if sent >= next_grant:
                next_grant += grant_every
                self._grant(session, base, rng, headers)
            if sent >= top_ups[0] + done * (span if self.budget is None else 0):
                if self.budget is not None:
                    top_ups = top_ups[1:] + [10**12]
                else:
                    done += 1
                for template in ("group_buy", "bargain"):
                    self._top_up(session, base, template, headers)
            time.sleep(0.01)
        session.close()

    def _grant(self, session: requests.Session, base: str, rng: random.Random,
               headers: dict[str, str]) -> None:
        who = rng.choice(self.seed.participants)
        params = {"count": 1}
        lottery = self.seed.activities["lottery"]
        response = self._send(session, "merchant", "POST",
                              f"{base}/v1/merchant/activities/{lottery}/actions/grant", None,
                              {"participant": who, "params": params}, headers)
        if response is None:
            return
        answer = response.json()
        if response.status_code == 200:
            with self.tally.lock:
                self.tally.acks.append(Ack("lottery", lottery, "grant", who, params, None,
                                           answer))
        else:
            with self.tally.lock:
                self.tally.codes[("lottery.grant", answer.get("error", "?"))] += 1

    def _top_up(self, session: requests.Session, base: str, template: str,
                headers: dict[str, str]) -> None:
        """GET the config, raise its stock, PATCH it back (the whole config, as documented)."""
        activity = self.seed.activities[template]
        url = f"{base}/v1/merchant/activities/{activity}"
        response = self._send(session, "merchant", "GET", url, None, headers=headers)
        if response is None or response.status_code != 200:
            return
        config = response.json()["config"]
        config["stock"] += 3 if template == "bargain" else 5
        response = self._send(session, "merchant", "PATCH", url, None, {"config": config},
                              headers)
        if response is None:
            return
        if response.status_code == 200:
            with self.tally.lock:
                self.edits[activity] += 1
        else:
            with self.tally.lock:
                self.tally.codes[(f"{template}.PATCH", response.json().get("error", "?"))] += 1

    # requests -------------------------------------------------------------------------

    def _send(self, session: requests.Session, kind: str, method: str, url: str,
              participant: str | None, body: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> requests.Response | None:
        import requests

        headers = dict(headers or {})
        if participant is not None:
            headers["Authorization"] = f"Bearer {self.seed.tokens[participant]}"
            # each shopper on a phone of their own (limits per device count phones)
            headers["Magic-Cube-Device"] = f"phone-{participant}"
        try:
            response = session.request(method, url, json=body, headers=headers,
                                       timeout=(5, 90))
        except requests.RequestException as exc:
            # Refused: the request never reached a server (it is down). Otherwise the
            # connection broke with the request sent: its outcome is unknown.
            refused = "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc)
            with self.tally.lock:
                self.tally.transport_errors += 1
                if kind == "action" and not refused:
                    self.tally.unknown += 1
                self.tally.statuses[(kind, "refused" if refused else "error")] += 1
            if not self.tolerate:
                self.tally.server_errors.append(f"{method} {url}: {exc!r}")
            time.sleep(0.1)  # the server is restarting, or gone: do not spin
            return None
        self.tally.count(kind, response.status_code)
        if response.status_code >= 500:
            with self.tally.lock:
                if len(self.tally.server_errors) < 50:
                    self.tally.server_errors.append(
                        f"{method} {url} -> {response.status_code} {response.text[:300]}")
        return response

    def _poll(self, session: requests.Session, base: str, rng: random.Random,
              people: list[str], etags: dict[str, str]) -> None:
        template = rng.choice(TEMPLATES)
        activity = self.seed.activities[template]
        who = rng.choice(people)
        choice = rng.random()
        if choice < 0.05:  # a long poll: held until the next change (or 2 s)
            url, participant = f"{base}/v1/activities/{activity}?wait=2", None
        elif choice < 0.5:
            url, participant = f"{base}/v1/activities/{activity}", None
        elif choice < 0.75:
            url, participant = f"{base}/v1/activities/{activity}/me", who
        else:
            room = self.rooms.any(template, rng)
            if room is None:
                url, participant = f"{base}/v1/activities/{activity}", None
            else:
                url, participant = f"{base}/v1/activities/{activity}/rooms/{room}", who
        key = f"{url}|{participant}"
        headers = {"If-None-Match": etags[key]} if key in etags else {}
        response = self._send(session, "poll", "GET", url, participant, headers=headers)
        if response is None:
            return
        etag = response.headers.get("ETag")
        if response.status_code in (200, 304) and not etag:
            self.tally.bad_polls.append(f"GET {url} -> {response.status_code} without ETag")
        if response.status_code == 304:
            if response.content:
                self.tally.bad_polls.append(f"GET {url} -> 304 with a body")
            if etag != etags.get(key):
                self.tally.bad_polls.append(f"GET {url} -> 304 with ETag {etag} != sent "
                                            f"{etags.get(key)}")
        if response.status_code == 200 and etag:
            etags[key] = etag
            with self.tally.lock:
                self.seen[(url, participant)] = (etag, response.content)

    def check_settled_polls(self, limit: int = 300) -> int:
        """Once the clients have stopped: every view a client saw, polled again with its last
        ETag. A 304 says nothing changed since, so the body it stands for must be exactly
        what a fresh full read returns now — else an ETag failed to move with its view and a
        client would keep showing stale data. Returns how many views were checked."""
        import requests

        session = requests.Session()
        checked = 0
        for (url, participant), (etag, body) in list(self.seen.items())[-limit:]:
            headers = {"Authorization": f"Bearer {self.seed.tokens[participant]}"} \
                if participant else {}
            plain_url = url.split("?")[0]
            again = session.get(plain_url, headers={**headers, "If-None-Match": etag},
                                timeout=30)
            if again.status_code != 304:
                continue
            fresh = session.get(plain_url, headers=headers, timeout=30)
            checked += 1
            if fresh.headers.get("ETag") != etag or json.loads(fresh.content) != json.loads(body):
                self.tally.bad_polls.append(
                    f"GET {plain_url} ({participant}): 304 for ETag {etag}, but the view is "
                    f"now {fresh.headers.get('ETag')} {fresh.content[:200]!r}, was "
                    f"{body[:200]!r}")
        session.close()
        self.settled_checked = checked
        return checked

    def _act(self, session: requests.Session, base: str, rng: random.Random, template: str,
             people: list[str]) -> None:
        activity = self.seed.activities[template]
        action, who, room, params = self._choose(template, rng, rng.choice(people))
        body: dict[str, Any] = {}
        if params:
            body["params"] = params
        if room is not None:
            body["room"] = room
        response = self._send(session, "action", "POST",
                              f"{base}/v1/activities/{activity}/actions/{action}", who, body)
        if response is None:
            return
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if 200 <= response.status_code < 300:
            with self.tally.lock:
                self.tally.acks.append(Ack(template, activity, action, who, params, room,
                                           answer))
            self.rooms.acknowledged(template, action, room, who, answer)
        else:
            code = answer.get("error", "?") if isinstance(answer, dict) else "?"
            with self.tally.lock:
                self.tally.codes[(f"{template}.{action}", code)] += 1
            self.rooms.refused(template, action, room, code)

    def _choose(self, template: str, rng: random.Random,
                who: str) -> tuple[str, str, str | None, dict[str, Any]]:
        """The next action on `template` as (action, participant, room, params): mostly one
        on the newest few open rooms, sometimes a new room (always while there are few)."""
        if template == "lottery":
            return "draw", who, None, {}
        rooms = self.rooms
        hot = rooms.hot(template, rng)
        if template == "bargain":
            buyable = rooms.buyable()
            if buyable and rng.random() < 0.5:
                room, initiator = rng.choice(buyable)
                return "buy", initiator, room, {}
        fresh = 0.2 if template == "bargain" else 0.25
        if hot is None or (rooms.count(template) < HOT_ROOMS and rng.random() < 0.5) \
                or rng.random() < fresh:
            if template == "gift":
                return "send", who, None, {"shares": rng.randint(1, 4)}
            return "start", who, None, {}
        return {"group_buy": "join", "bargain": "help", "gift": "claim"}[template], who, \
            hot[0], {}
