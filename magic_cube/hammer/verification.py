"""After a run, every rule checked from the database alone: `invariants()` of each activity
(with replay), every acknowledged action in the log under its `seq` as it was answered, and
the store's integrity check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from magic_cube.hammer.seeding import Seed
from magic_cube.hammer.stores import make_engine
from magic_cube.hammer.tally import Ack

if TYPE_CHECKING:
    from magic_cube.engine import ActionRecord, Engine


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    activities_checked: int = 0  # invariants() + replay, per activity
    acks_matched: int = 0  # acknowledged actions found in the log as answered
    integrity_checks: int = 0
    logged_actions: int = 0
    left: dict[str, Any] = field(default_factory=dict)  # template -> stock left

    @property
    def invariants_checked(self) -> int:
        return self.activities_checked + self.acks_matched + self.integrity_checks


def read_log(engine: Engine, activity_id: str) -> list[ActionRecord]:
    log: list[ActionRecord] = []
    with engine.store.transaction(write=False) as tx:
        while True:
            batch = tx.list_actions(activity_id, log[-1].seq if log else 0, 1000)
            if not batch:
                return log
            log += batch


def verify(seed: Seed, acks: list[Ack], exact: bool, engine: Engine | None = None,
           edits: Counter | None = None) -> Verification:
    """Check every rule from the database alone. `exact`: no answer was lost, so the log's
    participant and merchant actions (and live config edits, `edits` per activity) must be
    exactly the acknowledged ones; otherwise at least those."""
    from magic_cube.engine.invariants import invariants

    out = Verification()
    own = engine is None
    engine = engine or make_engine(seed.database_url)
    try:
        for template, activity_id in seed.activities.items():
            out.problems += [f"{template}: {p}" for p in invariants(engine, activity_id)]
            out.activities_checked += 1
            mine = [a for a in acks if a.activity == activity_id]
            _check_log(out, template, read_log(engine, activity_id), mine,
                       (edits or Counter())[activity_id], exact)
            with engine.store.transaction(write=False) as tx:
                activity = tx.get_activity(activity_id)
            state = activity.state if activity is not None else {}
            out.left[template] = (state.get("stock") if template != "gift"
                                  else {"sent": state.get("sent"),
                                        "claimed": state.get("claimed")})
        verdict = engine.store.integrity_check()
        out.integrity_checks += 1
        if verdict != "ok":
            out.problems.append(f"integrity_check: {verdict}")
    finally:
        if own:
            engine.store.close()
    return out


def _check_log(out: Verification, template: str, log: list[ActionRecord], acks: list[Ack],
               edits: int, exact: bool) -> None:
    """The acknowledged actions (`acks`) and config edits of one activity against its log."""
    from magic_cube.api.times import iso_times

    out.logged_actions += len(log)
    by_seq = {e.seq: e for e in log}
    for ack in acks:
        seq = ack.body.get("seq")
        problem = _match(ack, by_seq.get(seq) if isinstance(seq, int) else None, iso_times)
        if problem:
            out.problems.append(f"{template}: acknowledged {ack.action} by {ack.participant} "
                                f"(seq {seq}): {problem}")
        else:
            out.acks_matched += 1
    configs = sum(1 for e in log if e.action == "$config")
    if configs < edits or (exact and configs != edits):
        out.problems.append(f"{template}: {configs} config edits logged, {edits} acknowledged")
    if exact:
        logged = {e.seq for e in log if e.actor_kind in ("participant", "merchant")
                  and not e.action.startswith("$")}
        # An answer without a seq is already reported above, as not in the log.
        acked: set[int] = {a.body["seq"] for a in acks if a.body.get("seq") is not None}
        if logged != acked:
            out.problems.append(
                f"{template}: logged actions without a 2xx answer: "
                f"{sorted(logged - acked)[:10]}; answered but not logged: "
                f"{sorted(acked - logged)[:10]}")


def _match(ack: Ack, entry: ActionRecord | None,
           iso_times: Callable[[Any], Any]) -> str | None:
    if entry is None:
        return "not in the action log"
    want_room = ack.body.get("room")
    got_room = entry.new_room_id or entry.room_id
    checks = [
        ("action", entry.action, ack.action),
        ("participant", entry.participant_id, ack.participant),
        ("params", entry.params, ack.params),
        ("room", got_room, want_room),
        ("room asked", entry.room_id, ack.room),
        ("result", iso_times(entry.result), ack.body.get("result")),
        ("events", [e["type"] for e in entry.events], ack.body.get("events")),
    ]
    wrong = [f"{name} logged {got!r} != answered {want!r}" for name, got, want in checks
             if got != want]
    return "; ".join(wrong) or None
