"""How a simulated visitor behaves, per template kind.

Each model is a few lines on purpose: the rules themselves (limits, stock, odds, splits,
expiry) come from the template through the real interpreter, so a model only says what a
person *tries*, each step taken with the chance the merchant assumed (`Assumptions.conversion`):

- lottery — a visitor draws (`act`), draws again while the rules allow (`again` each time),
  shares the link (`share`), and comes back the next day (`return`, again each day). A friend
  who opens a shared link draws too (`friend`), but does not share further.
- bargain — a visitor starts a bargain (`act`) and shares it (`share`); each friend helps
  (`friend`); when the bargain completes its initiator buys (`buy`).
- group_buy — a visitor opens a group (`act`) and shares it (`share`); each friend joins
  (`friend`).
- gift — a visitor sends a pack (`act`) with one share per expected friend (within the
  template's limit) and shares it (`share`); each friend claims (`friend`).
- collect_cards — a visitor draws (`act`), draws again while the rules allow (`again`),
  exchanges a full set as soon as they hold one, asks for a missing card and shares the request
  (`share`), and comes back the next day (`return`). A friend who opens a request (`friend`)
  draws their own cards, then gives the card if they hold it.
- checkin_pool — a visitor checks in (`act`), shares the activity (`share`) and comes back the
  next day (`return`, again each day); once the pool is split, a qualified participant who comes
  back collects their share. A friend who opens the link (`friend`) checks in the same way.
- any other template (kind `other`, or a kind's template whose actions are named otherwise)
  gets `Generic`, worked out from its actions (below).

Friends reach a link `friends` per share on average, after a delay whose mean is
`friend_delay_hours`; they come one generation deep, so the crowd never grows without bound.
`given_away` is the money a model's events hand out (discounts, cash), beside the item costs
that the template's `fulfilment` events count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from magic_cube.rules.compiler import CompiledAction, CompiledTemplate
from magic_cube.rules.model import Event, Outcome, Rejection, Room

if TYPE_CHECKING:
    from magic_cube.forecast.simulate import Run


class Behaviour(Protocol):
    kind: str
    steps: tuple[str, ...]  # the conversion steps the model asks about

    def visit(self, run: Run, visitor: str) -> None:
        """A visitor arrives on their own (not through a friend's link)."""

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        """Money an accepted action's event gives away, in the smallest unit."""


def opened(outcome: Outcome | Rejection) -> str | None:
    """The room an accepted action opened (or acted on)."""
    if isinstance(outcome, Outcome) and outcome.room is not None:
        return outcome.room.room.id
    return None


def succeeded(outcome: Outcome | Rejection) -> bool:
    """Whether the action completed its room."""
    return (isinstance(outcome, Outcome) and outcome.room is not None
            and outcome.room.status_changed and outcome.room.room.status == "succeeded")


# The most times one visit takes a step again: an action the rules never refuse would
# otherwise be taken forever once `again` is 100 %.
TRIES = 100


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Bargain:
    kind = "bargain"
    steps: tuple[str, ...] = ("act", "share", "friend", "buy")

    def visit(self, run: Run, visitor: str) -> None:
        if not run.chance("act"):
            return
        outcome = run.act(visitor, "start")
        room = opened(outcome)
        if room is not None and run.chance("share"):
            run.bring_friends(visitor, self.help, room)

    def help(self, run: Run, friend: str, sharer: str, room: str) -> None:
        if not run.chance("friend"):
            return
        if succeeded(run.act(friend, "help", room)) and run.chance("buy"):
            run.act(sharer, "buy", room)

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        if event.type != "order.created":
            return 0
        return max(0, _int(run.config.get("original_price")) - _int(event.data.get("price")))


class GroupBuy:
    kind = "group_buy"
    steps: tuple[str, ...] = ("act", "share", "friend")

    def visit(self, run: Run, visitor: str) -> None:
        if not run.chance("act"):
            return
        outcome = run.act(visitor, "start")
        room = opened(outcome)
        if room is not None and run.chance("share"):
            run.bring_friends(visitor, self.join, room)

    def join(self, run: Run, friend: str, sharer: str, room: str) -> None:
        if run.chance("friend"):
            run.act(friend, "join", room)

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        if event.type != "group.succeeded" or room is None:
            return 0
        original = _int(run.config.get("original_price"))
        return sum(max(0, original - _int(m.data.get("price"))) for m in room.members)


class Gift:
    kind = "gift"
    steps: tuple[str, ...] = ("act", "share", "friend")

    def visit(self, run: Run, visitor: str) -> None:
        if not run.chance("act"):
            return
        outcome = run.act(visitor, "send", params=self.pack(run))
        room = opened(outcome)
        if room is not None and run.chance("share"):
            run.bring_friends(visitor, self.claim, room)

    def pack(self, run: Run) -> dict[str, Any]:
        shares = max(1, min(_int(run.config.get("max_shares")) or 1,
                            round(run.plan.assumptions.friends)))
        params: dict[str, Any] = {"shares": shares}
        if run.config.get("mode") == "amount":
            amount = run.plan.assumptions.gift_amount or _int(run.config.get("max_amount"))
            params["amount"] = max(amount, shares * max(1, _int(run.config.get("min_share"))))
        return params

    def claim(self, run: Run, friend: str, sharer: str, room: str) -> None:
        if run.chance("friend"):
            run.act(friend, "claim", room)

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        if event.type != "gift.claimed" or run.config.get("mode") != "amount":
            return 0
        return _int(event.data.get("share"))


def _state(run: Run, who: str) -> dict[str, Any]:
    return run.participants.get(who) or {}


class CollectCards:
    kind = "collect_cards"
    steps: tuple[str, ...] = ("act", "again", "return", "share", "friend")

    def visit(self, run: Run, visitor: str) -> None:
        if run.chance("act"):
            self.session(run, visitor)

    def session(self, run: Run, who: str) -> None:
        self.draw(run, who)
        missing = self.missing(run, who)
        if missing and run.chance("share"):
            room = opened(run.act(who, "ask", params={"card": missing[0]}))
            if room is not None:
                run.bring_friends(who, self.give, room, missing[0])
        if run.chance("return"):
            run.later(run.now + 86400, self.session, who)

    def draw(self, run: Run, who: str) -> None:
        for _ in range(TRIES):
            if not (run.act(who, "draw").ok and run.chance("again")):
                break
        self.redeem(run, who)

    def redeem(self, run: Run, who: str) -> None:
        while not self.missing(run, who) and run.act(who, "redeem").ok:
            pass

    def missing(self, run: Run, who: str) -> list[str]:
        """The cards `who` lacks, rarest first (the one worth asking a friend for)."""
        cards: list[Any] = run.config.get("cards") or []
        held = _state(run, who).get("cards") or {}
        lacking = [c for c in cards if isinstance(c, dict) and not held.get(c.get("name"))]
        return [str(c["name"]) for c in sorted(lacking, key=lambda c: _int(c.get("odds")))]

    def give(self, run: Run, friend: str, sharer: str, room: str, card: str) -> None:
        if not run.chance("friend"):
            return
        self.draw(run, friend)
        if (_state(run, friend).get("cards") or {}).get(card) and run.act(friend, "give",
                                                                          room).ok:
            self.redeem(run, sharer)

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        return 0


class CheckinPool:
    kind = "checkin_pool"
    steps: tuple[str, ...] = ("act", "return", "share", "friend")

    def visit(self, run: Run, visitor: str) -> None:
        if run.chance("act"):
            self.session(run, visitor, True)

    def session(self, run: Run, who: str, may_share: bool) -> None:
        run.fire_activity_timers()  # the split may have come since the last visit
        if run.activity.get("settled"):
            me = _state(run, who)
            if _int(me.get("days")) >= _int(run.config.get("days_required")) \
                    and not me.get("claimed"):
                run.act(who, "claim")
            return
        run.act(who, "check_in")
        if may_share and run.chance("share"):
            run.bring_friends(who, self.friend)
        if run.chance("return"):
            run.later(run.now + 86400, self.session, who, False)

    def friend(self, run: Run, friend: str, sharer: str) -> None:
        if run.chance("friend"):
            self.session(run, friend, False)

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        return _int(event.data.get("amount")) if event.type == "share.claimed" else 0


class Generic:
    """The model of a template no kind's model fits (kind `other`, or actions named otherwise),
    worked out from its actions: `first`, the first action (in the template's order) a
    participant takes on their own, and `target`, the first a participant takes on someone
    else's room, each with params built from its schema's defaults.

    A visitor takes `first` (`act`), again while the rules accept it (`again`) unless it
    opened a room; shares (`share`): a room it opened, for friends to take `target` on it
    (`friend`), else the activity, for friends to do as the visitor did (`friend`); and,
    without a room, comes back the next day (`return`, again each day)."""

    steps: tuple[str, ...] = ("act", "again", "return", "share", "friend")

    def __init__(self, first: str, first_params: dict[str, Any], target: str | None,
                 target_params: dict[str, Any], kind: str = "generic") -> None:
        self.kind = kind
        self.first, self.first_params = first, first_params
        self.target, self.target_params = target, target_params

    def visit(self, run: Run, visitor: str) -> None:
        if run.chance("act"):
            self.session(run, visitor, True)

    def session(self, run: Run, who: str, may_share: bool) -> None:
        for _ in range(TRIES):
            outcome = run.act(who, self.first, params=self.first_params)
            room = opened(outcome)
            if room is not None or not outcome.ok or not run.chance("again"):
                break
        if room is not None:
            if self.target is not None and run.chance("share"):
                run.bring_friends(who, self.on_room, room)
            return
        if may_share and run.chance("share"):
            run.bring_friends(who, self.friend)
        if run.chance("return"):
            run.later(run.now + 86400, self.session, who, False)

    def friend(self, run: Run, friend: str, sharer: str) -> None:
        if run.chance("friend"):
            self.session(run, friend, False)

    def on_room(self, run: Run, friend: str, sharer: str, room: str) -> None:
        if run.chance("friend") and self.target is not None:
            run.act(friend, self.target, room, self.target_params)

    def given_away(self, run: Run, event: Event, room: Room | None) -> int:
        return 0  # what it hands out is costed from the template's `fulfilment` events


# The actions each kind's model takes: a template of the kind without them gets `Generic`.
_TAKES: dict[str, tuple[str, ...]] = {
    "lottery": ("draw",), "bargain": ("start", "help", "buy"), "group_buy": ("start", "join"),
    "gift": ("send", "claim"), "collect_cards": ("draw", "ask", "give", "redeem"),
    "checkin_pool": ("check_in", "claim")}


def behaviour_for(template: CompiledTemplate, kind: str) -> Behaviour | None:
    """The kind's model if the template has the actions it takes, else the generic one;
    None when no action can be taken on one's own with params the model can fill in."""
    model = BEHAVIOURS.get(kind)
    if model is not None and all(a in template.actions for a in _TAKES.get(kind, ())):
        return model
    return generic(template)


def generic(template: CompiledTemplate) -> Generic | None:
    first: tuple[str, dict[str, Any]] | None = None
    target: tuple[str, dict[str, Any]] | None = None
    for name, action in template.actions.items():
        if action.by != "participant" or (first if action.room == "none" else target):
            continue
        params = _params(action)
        if params is None:
            continue
        if action.room == "none":
            first = (name, params)
        else:
            target = (name, params)
    if first is None:
        return None
    return Generic(first[0], first[1], *(target or (None, {})))


def _params(action: CompiledAction) -> dict[str, Any] | None:
    """Params for `action` from its schema: each required one's `default`, `const`, first
    `enum` value or least number; None if one cannot be filled in or they do not validate."""
    schema = action.params.schema if isinstance(action.params.schema, dict) else {}
    fields = schema.get("properties") or {}
    params: dict[str, Any] = {}
    for name in schema.get("required") or ():
        spec = fields.get(name)
        if not isinstance(spec, dict):
            return None
        if "default" in spec:
            params[name] = spec["default"]
        elif "const" in spec:
            params[name] = spec["const"]
        elif spec.get("enum"):
            params[name] = spec["enum"][0]
        elif spec.get("type") in ("integer", "number"):
            least = _number(spec.get("minimum", 1))
            above = _number(spec.get("exclusiveMinimum", 0))
            if least is None or above is None:
                return None
            params[name] = max(1, math.ceil(least), math.floor(above) + 1)
        elif spec.get("type") == "boolean":
            params[name] = False
        else:
            return None
    return params if action.params.is_valid(params) else None


# A lottery is the generic model of a template whose first step is `draw`, which opens no room.
def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


BEHAVIOURS: dict[str, Behaviour] = {b.kind: b for b in (
    Generic("draw", {}, None, {}, kind="lottery"), Bargain(), GroupBuy(), Gift(), CollectCards(),
    CheckinPool())}
