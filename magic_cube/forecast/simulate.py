"""One Monte Carlo run: the real interpreter, a clock and a queue of what happens next.

Like `rules.sim.Simulation` it keeps the activity in memory and fires room timers the way the
engine does (every due timer before the next action), but from a heap, so a run with
thousands of open rooms costs the same per action as a run with one, and it keeps no log:
only the counters a forecast reports.
"""

from __future__ import annotations

import copy
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from magic_cube.catalog.tables import row_names
from magic_cube.forecast.assumptions import Assumptions
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.interpreter import initial_activity_state, run, run_in_zone
from magic_cube.rules.jsonlogic.dates import in_zone
from magic_cube.rules.model import Actor, Event, Outcome, Rejection, Room, Snapshot
from magic_cube.rules.rng import stream_rng
from magic_cube.rules.timers import (
    MAX_CATCH_UP,
    Window,
    due_timers,
    mark_fired,
    next_due,
    occurrence,
)

HOUR = 3600
DAY = 86400
# At the same second, a day's tally is taken first (it closes the day before), then due timers
# run before anyone acts (as in the engine).
_MARK, _TIMER, _VISIT = -1, 0, 1
# A planned event: (epoch second, priority, order planned in, what to call, its arguments).
Planned = tuple[int, int, int, Callable[..., None], tuple[Any, ...]]
DEADLINE_EVERY = 512  # events between two looks at the clock


class OutOfTime(Exception):
    """A run passed its deadline (a forecast's time budget) and was dropped."""


@dataclass
class RunResult:
    """What one run produced. Money is in the template's smallest unit; hours count from
    the start; `None` in `stock_out` means the stock lasted."""

    actions: int = 0  # every action tried, refused ones included (the benchmark's unit)
    accepted: int = 0
    participations: int = 0
    participants: int = 0
    first_time: int = 0
    completions: int = 0
    rooms_started: int = 0
    rooms_completed: int = 0
    prize_cost: int = 0
    given_away: int = 0
    awarded: dict[str, int] = field(default_factory=dict)  # item -> units handed out
    stock_out: dict[str, float | None] = field(default_factory=dict)
    stock_out_after: dict[str, int | None] = field(default_factory=dict)  # participations then
    refusals: dict[str, int] = field(default_factory=dict)  # error code -> count
    # at the end of each day: participations so far, and what is left of each stock
    daily_participations: list[int] = field(default_factory=list)
    daily_stock: dict[str, list[int]] = field(default_factory=dict)

    @property
    def cost(self) -> int:
        return self.prize_cost + self.given_away

    @property
    def completion_share(self) -> float | None:
        return self.rooms_completed / self.rooms_started if self.rooms_started else None


@dataclass(frozen=True)
class Plan:
    """What every run of one forecast shares: the template, its config and the assumptions."""

    template: CompiledTemplate
    config: dict[str, Any]
    assumptions: Assumptions
    behaviour: Any  # a behaviour.Behaviour
    participation: frozenset[str]
    completion: frozenset[str]
    fulfilment: dict[str, Any]
    start: int
    timezone: str = "Asia/Shanghai"
    state: dict[str, Any] | None = None  # the activity's state to start from (a live one's)


class Run:
    """A single simulated activity. Behaviours drive it through `act`, `later`, `chance`
    and `bring_friends`."""

    def __init__(self, plan: Plan, seed: str) -> None:
        self.plan = plan
        self.config = plan.config
        self.seed = seed
        self.random = random.Random(seed)  # the crowd's choices; the rules draw from Rng
        self.arrivals = random.Random(f"{seed}/arrivals")
        self.draws = random.Random(f"{seed}/draws")  # the rules' random draws (`stream_rng`)
        self.now = plan.start
        self.end = plan.start + plan.assumptions.days * DAY
        self.activity = (copy.deepcopy(plan.state) if plan.state is not None else
                         initial_activity_state(plan.template, plan.config, plan.start,
                                                plan.timezone))
        self.participants: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, Room] = {}
        self.new_to_platform: set[str] = set()  # the first-time participants among them
        self.people = 0  # everyone the run has brought so far
        self.inviter: dict[str, str] = {}
        self.acted: set[str] = set()
        self.queue: list[Planned] = []
        self.order = 0
        # The day's visitors, in the order they arrive (`_open_day`), beside the queue: a
        # queue entry each would cost a push and a pop on a queue a day of visitors long.
        self._visitors: list[Planned] = []
        self._next_visitor = 0
        self.seq = 0
        self.result = RunResult()
        self._timer_inputs = plan.template.timer_inputs
        # looked up once a run, not at every action: the same values, fewer attribute walks
        self._rates = dict(plan.assumptions.conversion)
        self._new_share = plan.assumptions.new_share
        self._friends = plan.assumptions.friends
        self._friend_delay = plan.assumptions.friend_delay_hours * HOUR
        self._template = plan.template
        # the actions that may open a room: only they are given an id for one
        self._opening = frozenset(name for name, body in plan.template.doc["actions"].items()
                                  if _names(body.get("effects"), "create_room"))
        self._has_activity_timers = bool(plan.template.activity_timers)
        self._participation = plan.participation
        self._zoned = False  # whether the plan's time zone is entered (`play`)
        self._timezone = plan.timezone
        self._stored = self.participants.get  # (the same dict for the whole run)
        self._quiet: tuple[Any, ...] | None = None  # timer inputs known to have nothing due
        self._quiet_until: int | None = None  # … before this time
        self.stocks = stock_names(self.activity, plan.config, plan.template.doc)
        self._stock_seen: tuple[Any, Any] | None = None
        for name in self.stocks:
            self.result.stock_out[name] = None
            self.result.stock_out_after[name] = None
            self.result.daily_stock[name] = []
        self._check_stock()

    # what behaviours use ---------------------------------------------------------------

    def chance(self, step: str) -> bool:
        return self.random.random() < self._rates[step]

    def later(self, at: float, what: Callable[..., None], *args: Any) -> None:
        """Do `what(self, *args)` at epoch second `at`, if that is before the end."""
        when = int(at)
        if when < self.end:
            self._push(when, _VISIT, what, args)

    def newcomer(self, prefix: str, inviter: str | None = None) -> str:
        pid = f"{prefix}{self.people}"
        self.people += 1
        if self.random.random() < self._new_share:
            self.new_to_platform.add(pid)
        if inviter is not None:
            self.inviter[pid] = inviter
        return pid

    def bring_friends(self, sharer: str, what: Callable[..., None], *args: Any) -> None:
        """The friends a share brings: `friends` on average (its whole part, plus one more
        with the chance of its fraction), each opening the link after an exponential delay."""
        friends = self._friends
        count = int(friends) + (self.random.random() < friends - int(friends))
        mean = self._friend_delay
        for _ in range(count):
            delay = self.random.expovariate(1 / mean) if mean > 0 else 0.0
            friend = self.newcomer("f", inviter=sharer)
            self.later(self.now + delay, what, friend, sharer, *args)

    def act(self, actor: str, action: str, room: str | None = None,
            params: dict[str, Any] | None = None) -> Outcome | Rejection:
        inviter = self.inviter.get(actor)
        who = Actor(actor, "participant",
                    actor in self.new_to_platform and actor not in self.acted,
                    actor not in self.participants, "", inviter,
                    1 if inviter is not None else 0)
        if self._has_activity_timers:
            self.fire_activity_timers()
        return self._perform(who, action, params or {}, room)

    # the run itself ----------------------------------------------------------------------

    def play(self, deadline: float | None = None) -> RunResult:
        """Play the run to its end; `OutOfTime` once `time.monotonic()` passes `deadline`."""
        # The activity's time zone is entered once for the whole run, not at every action.
        with in_zone(self.plan.timezone):
            self._zoned = True
            try:
                return self._play(deadline)
            finally:
                self._zoned = False

    def _play(self, deadline: float | None) -> RunResult:
        days = self.plan.assumptions.days
        # Each day's visitors are planned when the day opens, not all at the start: a run
        # holds one day of them, and a run too big for its deadline stops within it.
        self._push(self.plan.start, _MARK, Run._open_day, (0,))
        for day in range(1, days + 1):
            self._push(self.plan.start + day * DAY, _MARK, Run._tally, ())
        events = 0
        queue, heappop = self.queue, heapq.heappop
        while True:
            # the earlier of the next visitor and the queue's first (the same order as one
            # queue: time, priority, then the order they were planned in)
            visitors, i = self._visitors, self._next_visitor
            if i < len(visitors) and (not queue or visitors[i][0] < queue[0][0] or (
                    visitors[i][0] == queue[0][0] and visitors[i] < queue[0])):
                self._next_visitor = i + 1
                at, _, _, what, args = visitors[i]
            elif queue:
                at, _, _, what, args = heappop(queue)
            else:
                break
            self.now = at
            what(self, *args)
            events += 1
            if deadline is not None and events % DEADLINE_EVERY == 0 \
                    and time.monotonic() > deadline:
                raise OutOfTime()
        self.now = self.end  # the activity ends: its `at: "end"` timers fire
        self.fire_activity_timers(ended=True)
        self.result.participants = len(self.acted)
        self.result.first_time = len(self.acted & self.new_to_platform)
        return self.result

    def _open_day(self, day: int) -> None:
        """Queue the day's visitors (from their own stream, so arrival times do not depend on
        what the crowd chose), and the opening of the next day."""
        base = self.plan.start + day * DAY
        visitors = self._visitors[self._next_visitor:]  # (none left: the day before is over)
        for at in arrivals(self.arrivals, base, self.plan.assumptions.visitors_per_day):
            when = int(at)
            if when < self.end:
                self.order += 1
                visitors.append((when, _VISIT, self.order, _arrive, ()))
        visitors.sort(key=_at)  # (stable: the same time keeps the order planned in)
        self._visitors, self._next_visitor = visitors, 0
        if day + 1 < self.plan.assumptions.days:
            self._push(base + DAY, _MARK, Run._open_day, (day + 1,))

    def _push(self, at: int, priority: int, what: Callable[..., None],
              args: tuple[Any, ...]) -> None:
        self.order += 1
        heapq.heappush(self.queue, (at, priority, self.order, what, args))

    def _tally(self) -> None:
        """The end of a day: participations so far and each stock left."""
        if len(self.result.daily_participations) >= self.plan.assumptions.days:
            return
        self.fire_activity_timers()  # what a timer released or took is in the day's figures
        self.result.daily_participations.append(self.result.participations)
        for name, left in self.stock_left().items():
            self.result.daily_stock[name].append(left)

    def stock_left(self) -> dict[str, int]:
        return {name: self._left(key, index) or 0 for name, (key, index) in self.stocks.items()}

    def _left(self, key: str, index: int | None) -> int | None:
        """What is left of one stock, with what a paced lottery still holds back (`held`,
        aligned with it): a pool is out when both are."""
        total = _count_at(self.activity.get(key), index)
        if total is None:
            return None
        held = _count_at(self.activity.get("held"), index)
        return total if held is None else total + held

    def fire_activity_timers(self, ended: bool = False) -> None:
        """The activity's own due timers (a paced release, a pool's top-up and split), each
        occurrence once and in order, as the engine fires them before any action."""
        timers = self.plan.template.activity_timers
        if not timers:
            return
        if self._timer_inputs is not None:
            # Times that read nothing but the config and these activity variables stay put
            # while those do: asked again only when they change or the next time comes.
            key = (ended, *map(self.activity.get, self._timer_inputs))
            if key == self._quiet and (self._quiet_until is None or self.now < self._quiet_until):
                return
        window = Window(self.plan.start, self.end, ended)
        if self._timer_inputs is not None:
            coming = next_due(timers, self.config, self.activity, window, self.now,
                              self.plan.timezone)
            if coming is None or coming > self.now:
                self._quiet, self._quiet_until = key, coming
                return
        for _ in range(MAX_CATCH_UP):
            due = due_timers(timers, self.config, self.activity, window, self.now,
                             self.plan.timezone)
            if not due:
                return
            timer = timers[due[0][1]]
            when = occurrence(timer, self.config, self.activity, window, self.now,
                              self.plan.timezone)
            # marked before it runs: a refused firing still counts as fired
            self.activity = mark_fired(self.activity, timer.name, when)
            self._perform(Actor("", kind="timer"), timer.action, {}, None)

    def _fire(self, room_id: str, name: str, due: int) -> None:
        room = self.rooms[room_id]
        if room.status != "open" or room.timers.get(name) != due:
            return
        del room.timers[name]
        timer = self.plan.template.timers[name]
        self._perform(Actor(room.initiator, kind="timer"), timer.action, {}, room_id)

    def _perform(self, actor: Actor, action: str, params: dict[str, Any],
                 room_id: str | None) -> Outcome | Rejection:
        self.seq = seq = self.seq + 1
        self.result.actions += 1
        stored = self._stored
        snapshot = Snapshot("forecast", self.config, self.activity, stored(actor.id),
                            self.rooms.get(room_id) if room_id else None, self._timezone,
                            stored)
        rng = stream_rng(self.draws)
        room = f"r{seq}" if action in self._opening else None
        if self._zoned:  # (a forecast reads no action's result)
            outcome = run_in_zone(self._template, action, snapshot, actor, params, self.now,
                                  rng, room, with_result=False)
        else:
            outcome = run(self._template, action, snapshot, actor, params, self.now, rng,
                          room)
        if isinstance(outcome, Rejection):
            refusals = self.result.refusals
            refusals[outcome.error] = refusals.get(outcome.error, 0) + 1
            return outcome
        self._accept(actor, action, outcome)
        return outcome

    def _accept(self, actor: Actor, action: str, outcome: Outcome) -> None:
        result = self.result
        result.accepted += 1
        self.activity = outcome.activity
        if actor.id:  # an activity timer acts for nobody
            self.participants[actor.id] = outcome.participant
        if outcome.others:  # written with `with`
            self.participants.update(outcome.others)
        if actor.kind != "timer":
            self.acted.add(actor.id)
        if action in self._participation:
            result.participations += 1
        change = outcome.room
        room = change.room if change is not None else None
        if room is not None and change is not None:
            self.rooms[room.id] = room
            if change.created:
                result.rooms_started += 1
                for name, due in room.timers.items():
                    self._push(due, _TIMER, Run._fire, (room.id, name, due))
            if change.status_changed and room.status == "succeeded":
                result.rooms_completed += 1
        for event in outcome.events:
            self._count(event, room)
        if outcome.activity_changed:
            self._check_stock()

    def _count(self, event: Event, room: Room | None) -> None:
        result = self.result
        if event.type in self.plan.completion:
            result.completions += 1
        spec = self.plan.fulfilment.get(event.type)
        if spec is not None:
            item = str(resolve(spec.get("item"), event.data, self.config) or event.type)
            # one unit per participant named, or per member of the room (`members: true`)
            units = len(room.members) if spec.get("members") and room is not None else 1
            result.awarded[item] = result.awarded.get(item, 0) + units
            costs = self.plan.assumptions.costs
            result.prize_cost += units * costs.get(item, self.plan.assumptions.unit_cost)
        result.given_away += self.plan.behaviour.given_away(self, event, room)

    def _check_stock(self) -> None:
        # What is left reads only these two: unchanged since the last look, nothing new ran out.
        seen = (self.activity.get("stock"), self.activity.get("held"))
        if seen == self._stock_seen:
            return
        self._stock_seen = seen
        for name, (key, index) in self.stocks.items():
            if self.result.stock_out[name] is not None:
                continue
            value = self._left(key, index)
            if value is not None and value <= 0:
                self.result.stock_out[name] = (self.now - self.plan.start) / HOUR
                self.result.stock_out_after[name] = self.result.participations


def _count_at(value: Any, index: int | None) -> int | None:
    """A stock's count: `value` itself, or its item `index`; None if not a whole number."""
    if index is not None and type(value) is list:
        value = value[index] if index < len(value) else None
    return value if type(value) is int else None


def _names(value: Any, key: str) -> bool:
    """Whether JSON `value` has an object with `key` anywhere in it."""
    if type(value) is dict:
        return key in value or any(_names(v, key) for v in value.values())
    if type(value) is list:
        return any(_names(v, key) for v in value)
    return False


def _at(planned: Planned) -> int:
    return planned[0]


def _arrive(run_: Run) -> None:
    run_.plan.behaviour.visit(run_, run_.newcomer("v"))


def arrivals(rng: random.Random, base: int, per_day: int) -> list[int]:
    """One day's visitors, from `base` on, spread evenly at random over the day."""
    return [base + int(rng.random() * DAY) for _ in range(per_day)]


def stock_names(activity: dict[str, Any], config: dict[str, Any],
                doc: dict[str, Any] | None = None) -> dict[str, tuple[str, int | None]]:
    """The stocks a template keeps: an activity variable named `stock`, either a number
    (named after the product) or a list along a config table — the one it starts as a `map`
    over (a streak's rewards), else `config.prizes` — named after each row."""
    value = activity.get("stock")
    if isinstance(value, bool):
        return {}
    if isinstance(value, int):
        name = config.get("product_name") or config.get("gift_name") or "stock"
        return {str(name): ("stock", None)}
    if isinstance(value, list):
        rows = row_names(doc or {}, {"var": "activity.stock"}, config)
        prizes = config.get("prizes")
        names: dict[str, tuple[str, int | None]] = {}
        for i in range(len(value)):
            name = f"stock[{i}]"
            if len(rows) == len(value):
                name = rows[i]
            elif isinstance(prizes, list) and i < len(prizes) and isinstance(prizes[i], dict):
                name = str(prizes[i].get("name", name))
            names[name if name not in names else f"{name} #{i + 1}"] = ("stock", i)
        return names
    return {}


def resolve(spec: Any, data: dict[str, Any], config: dict[str, Any]) -> Any:
    """A fulfilment field: an event data key, `{"config": key}` or `{"value": v}`."""
    if isinstance(spec, str):
        return data.get(spec)
    if isinstance(spec, dict):
        if "config" in spec:
            return config.get(spec["config"])
        return spec.get("value")
    return None

