"""The design's correctness rules, checked from the stored data alone.

`invariants(engine, activity_id)` reads everything stored about one activity and returns each
broken rule as a readable line: stock never below zero, prizes awarded = initial − left, no
group over its size, no helper twice, no gift unit claimed twice, per-day limits, stats equal
the action log, the outbox equals the logged events, and replaying the log reproduces the
state. The engine tests, the concurrency tests and `magic-cube hammer` all use this one checker.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magic_cube.engine.controls import top_up_state
from magic_cube.engine.lifecycle import follow_config
from magic_cube.engine.replay import replay
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.days import local_date
from magic_cube.rules.model import Room
from magic_cube.store.records import ActionRecord, ActivityRecord, OutboxRecord

if TYPE_CHECKING:
    from magic_cube.engine import Engine

Events = list[tuple[ActionRecord, dict[str, Any]]]  # (log entry, one event it emitted)
Checker = Callable[[ActivityRecord, dict[str, Any], dict[str, Any], list[Room],
                    list[ActionRecord], Events], list[str]]


def read_all(engine: Engine, activity_id: str) -> dict[str, Any]:
    """Everything stored about one activity, read in one transaction: `activity`, `merchant`,
    `log`, `rooms`, `participants`, `hourly` (stats buckets), `outbox`, and the count of its
    `blocks` and its `campaigns` as worked out afresh."""
    with engine.store.transaction(write=False) as tx:
        activity = tx.get_activity(activity_id)
        if activity is None:
            raise LookupError(f"no activity {activity_id}")
        merchant = tx.get_merchant(activity.merchant_id)
        log: list[ActionRecord] = []
        while True:
            batch = tx.list_actions(activity_id, log[-1].seq if log else 0, 1000)
            if not batch:
                break
            log += batch
        rooms = [s.room for s in tx.list_rooms(activity_id)]
        participants = tx.list_participants(activity_id, limit=10**9)
        hourly = tx.hourly_stats(activity_id)
        blocks = len(tx.list_blocks(activity_id))
        campaigns = tx.campaigns_of(activity_id)
        outbox: list[OutboxRecord] = []
        while True:
            boxed = tx.list_outbox(activity_id, outbox[-1].id if outbox else 0, 1000)
            if not boxed:
                break
            outbox += boxed
    return {"activity": activity, "merchant": merchant, "log": log, "rooms": rooms,
            "participants": participants, "hourly": hourly, "outbox": outbox,
            "blocks": blocks, "campaigns": campaigns}


def invariants(engine: Engine, activity_id: str, check_replay: bool = True) -> list[str]:
    """Every broken correctness rule of one activity, as readable lines (empty: all hold)."""
    data = read_all(engine, activity_id)
    activity, log, rooms = data["activity"], data["log"], data["rooms"]
    problems: list[str] = []
    if activity.initial_state is None:
        return problems  # never published
    template = engine.core.entry(activity).compiled
    state, initial = activity.state, activity.initial_state
    for entry in log:  # live stock edits move the stock on sale, as follow_config says
        if entry.action == "$config":
            initial, _ = follow_config(template.doc, initial, entry.params["before"],
                                       entry.params["after"])
        elif entry.action == "$stock":
            initial = top_up_state(template.doc, initial, entry.params["field"],
                                   entry.params["add"])
    events = [(entry, e) for entry in log for e in entry.events]

    # The log is complete and numbered without gaps.
    seqs = [e.seq for e in log]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"log: sequence numbers are not 1..n: {seqs[:10]}…")
    if activity.seq != len(seqs):
        problems.append(f"log: activity.seq {activity.seq} != {len(seqs)} entries")

    checker = CHECKERS.get(activity.template_id)
    if checker is not None:
        problems += checker(activity, state, initial, rooms, log, events)
    problems += _rooms(rooms)

    # The outbox holds exactly the logged events.
    logged = Counter((entry.seq, e["type"]) for entry, e in events)
    # A void's webhook is the engine's own, sent with its `$void` entry (engine/blocks.py).
    logged += Counter((e.seq, "participant.voided") for e in log if e.action == "$void")
    # So is an invitee's `participant.invited`, sent with the action that names the inviter.
    logged += Counter((e.seq, "participant.invited") for e in log if e.inviter is not None)
    boxed = Counter((o.seq, o.type) for o in data["outbox"])
    if logged != boxed:
        problems.append(f"outbox: {sum(boxed.values())} events != {sum(logged.values())} logged")

    # What the activity's row keeps for its actions agrees with the tables it stands for.
    if activity.blocks != data["blocks"]:
        problems.append(f"blocks: the row counts {activity.blocks}, there are {data['blocks']}")
    if activity.campaigns is not None and activity.campaigns != data["campaigns"]:
        problems.append(f"campaigns: the row lists {activity.campaigns}, "
                        f"not {data['campaigns']}")

    problems += _stats(engine, data, template)
    if check_replay:
        problems += [f"replay: {d}" for d in replay(engine, activity_id)]
    return problems


def _rooms(rooms: list[Room]) -> list[str]:
    out = []
    for room in rooms:
        ids = [m.participant for m in room.members]
        if len(ids) != len(set(ids)):
            out.append(f"room {room.id}: a participant is a member twice: {ids}")
        if room.capacity is not None and len(ids) > room.capacity:
            out.append(f"room {room.id}: {len(ids)} members over capacity {room.capacity}")
        if room.status != "open" and room.timers:
            out.append(f"room {room.id}: closed ({room.status}) with timers {room.timers}")
    return out


# the bundled templates ------------------------------------------------------------------

def _lottery(activity: ActivityRecord, state: dict[str, Any], initial: dict[str, Any],
             rooms: list[Room], log: list[ActionRecord], events: Events) -> list[str]:
    out = []
    prizes = activity.config["prizes"]
    # A paced lottery holds part of each prize's stock back and releases it over time.
    zeros = [0] * len(prizes)
    initial_stock = [a + b for a, b in zip(initial["stock"], initial.get("held", zeros),
                                           strict=True)]
    held = state.get("held", zeros)
    if initial_stock != [p["stock"] for p in prizes]:
        out.append(f"lottery: initial stock {initial_stock} != config")
    if any(h < 0 for h in held):
        out.append(f"lottery: stock held back {held} < 0")
    awarded = Counter(e["data"]["index"] for _, e in events if e["type"] == "prize.awarded")
    # A voided participant's prizes went back to stock (the template's `void` action).
    awarded -= Counter(e["data"]["index"] for _, e in events if e["type"] == "prize.voided")
    for i, left in enumerate(state["stock"]):
        if left < 0:
            out.append(f"lottery: prize {i} stock {left} < 0")
        if awarded[i] != initial_stock[i] - left - held[i]:
            out.append(f"lottery: prize {i} awarded {awarded[i]} != "
                       f"{initial_stock[i]} initial − {left} left − {held[i]} held back")
    draws = [e for e in log if e.action == "draw"]
    if state["draws"] != len(draws):
        out.append(f"lottery: activity.draws {state['draws']} != {len(draws)} logged draws")
    if state["wins"] != sum(awarded.values()):
        out.append(f"lottery: activity.wins {state['wins']} != {sum(awarded.values())} awards")
    # Per-day and total limits, with the merchant's grants as the only way past them.
    granted: Counter[str] = Counter()
    for e in log:
        if e.action == "grant":
            granted[e.participant_id] += e.params["count"]
    per_day = Counter((e.participant_id, local_date(e.at, activity.timezone)) for e in draws)
    total = Counter(e.participant_id for e in draws)
    cfg = activity.config
    for (pid, day), n in per_day.items():
        if n > cfg["draws_per_day"] + granted[pid]:
            out.append(f"lottery: {pid} drew {n} times on {day} (limit {cfg['draws_per_day']})")
    for pid, n in total.items():
        if n > cfg["draws_total"] + granted[pid]:
            out.append(f"lottery: {pid} drew {n} times (limit {cfg['draws_total']})")
    return out


def _group_buy(activity: ActivityRecord, state: dict[str, Any], initial: dict[str, Any],
               rooms: list[Room], log: list[ActionRecord], events: Events) -> list[str]:
    out = []
    if state["stock"] < 0:
        out.append(f"group_buy: stock {state['stock']} < 0")
    # config.stock may be edited live; the stock that was published is in initial_state.
    held = sum(len(r.members) for r in rooms if r.status in ("open", "succeeded"))
    if state["stock"] + held != initial["stock"]:
        out.append(f"group_buy: stock {state['stock']} + {held} held != {initial['stock']}")
    for r in rooms:
        if len(r.members) > activity.config["group_size"]:
            out.append(f"group_buy: room {r.id} has {len(r.members)} members")
        if r.status == "succeeded" and not r.state.get("virtual") \
                and len(r.members) != r.capacity:
            out.append(f"group_buy: room {r.id} succeeded with {len(r.members)}/{r.capacity}")
    limit = activity.config.get("groups_per_participant", 1)
    groups = Counter(m.participant for r in rooms for m in r.members)
    for pid, n in groups.items():
        if n > limit:
            out.append(f"group_buy: {pid} is in {n} groups (limit {limit})")
    refunds = Counter(e["data"]["room"] for _, e in events if e["type"] == "group.refund")
    for r in rooms:
        expected = len(r.members) if r.status == "expired" else 0
        if refunds[r.id] != expected:
            out.append(f"group_buy: room {r.id} ({r.status}) refunded {refunds[r.id]} times")
    return out


def _bargain(activity: ActivityRecord, state: dict[str, Any], initial: dict[str, Any],
             rooms: list[Room], log: list[ActionRecord], events: Events) -> list[str]:
    out = []
    cfg = activity.config
    if state["stock"] < 0:
        out.append(f"bargain: stock {state['stock']} < 0")
    if state["stock"] + state["sold"] != initial["stock"]:
        out.append(f"bargain: stock {state['stock']} + sold {state['sold']} != "
                   f"{initial['stock']}")
    for r in rooms:
        helpers = [m.participant for m in r.members if m.role == "helper"]
        if len(helpers) != len(set(helpers)):
            out.append(f"bargain: room {r.id}: a helper helped twice")
        if r.initiator in helpers:
            out.append(f"bargain: room {r.id}: the initiator helped their own bargain")
        price = r.state["price"]
        if price < cfg["floor_price"]:
            out.append(f"bargain: room {r.id}: price {price} below floor {cfg['floor_price']}")
        cuts = sum(m.data.get("cut", 0) for m in r.members)
        if cuts != cfg["original_price"] - price:
            out.append(f"bargain: room {r.id}: cuts {cuts} != "
                       f"{cfg['original_price']} − {price}")
        if r.state["helpers"] != len(helpers):
            out.append(f"bargain: room {r.id}: helpers {r.state['helpers']} != {len(helpers)}")
    per_day = Counter((e.participant_id, local_date(e.at, activity.timezone))
                      for e in log if e.action == "help")
    for (pid, day), n in per_day.items():
        if n > cfg.get("helps_per_day", 3):
            out.append(f"bargain: {pid} helped {n} times on {day}")
    launches = Counter(e.participant_id for e in log if e.action == "start")
    for pid, n in launches.items():
        if n > cfg.get("launches_per_participant", 1):
            out.append(f"bargain: {pid} started {n} bargains")
    return out


def _gift(activity: ActivityRecord, state: dict[str, Any], initial: dict[str, Any],
          rooms: list[Room], log: list[ActionRecord], events: Events) -> list[str]:
    out = []
    cfg = activity.config
    left_total = 0
    for r in rooms:
        recipients = [m for m in r.members if m.role == "recipient"]
        ids = [m.participant for m in recipients]
        if len(ids) != len(set(ids)):
            out.append(f"gift: pack {r.id}: a recipient claimed twice")
        if r.initiator in ids:
            out.append(f"gift: pack {r.id}: the sender claimed their own pack")
        claimed = sum(m.data["share"] for m in recipients)
        s = r.state
        if claimed + s["left"] + s["returned"] != s["total"]:
            out.append(f"gift: pack {r.id}: claimed {claimed} + left {s['left']} + returned "
                       f"{s['returned']} != total {s['total']}")
        if len(recipients) + s["shares_left"] != s["shares"]:
            out.append(f"gift: pack {r.id}: {len(recipients)} claims + {s['shares_left']} left "
                       f"!= {s['shares']} shares")
        if any(m.data["share"] < (cfg.get("min_share", 1) if cfg["mode"] == "amount" else 1)
               for m in recipients):
            out.append(f"gift: pack {r.id}: a share below the minimum")
        left_total += s["left"]
    if state["claimed"] + state["returned"] + left_total != state["sent"]:
        out.append(f"gift: claimed {state['claimed']} + returned {state['returned']} + left "
                   f"{left_total} != sent {state['sent']}")
    per_day: dict[str, Counter[tuple[str, Any]]] = defaultdict(Counter)
    for e in log:
        if e.action in ("claim", "send"):
            per_day[e.action][(e.participant_id, local_date(e.at, activity.timezone))] += 1
    for (pid, day), n in per_day["claim"].items():
        if n > cfg.get("receive_per_day", 5):
            out.append(f"gift: {pid} claimed {n} times on {day}")
    for (pid, day), n in per_day["send"].items():
        if n > cfg.get("sends_per_day", 3):
            out.append(f"gift: {pid} sent {n} packs on {day}")
    return out


CHECKERS: dict[str, Checker] = {"lottery": _lottery, "group_buy": _group_buy,
                                "bargain": _bargain, "gift": _gift}


# stats ----------------------------------------------------------------------------------

def _counted(entry: ActionRecord) -> bool:
    """Whether an entry counts as an action in the stats: not a `$` marker (config edit, end)
    and not a timer that fired and refused."""
    return not entry.action.startswith("$") \
        and not (entry.timer and "error" in (entry.result or {}))


def expected_stats(log: list[ActionRecord], template: CompiledTemplate) -> dict[str, int]:
    """The dashboard totals as the action log says they must be."""
    participant_actions = [e for e in log if e.actor_kind == "participant"]
    return {
        "participations": sum(1 for e in participant_actions
                              if e.action in template.participation),
        "unique_participants": len({e.participant_id for e in participant_actions}),
        "first_time_participants": sum(1 for e in participant_actions if e.first_time),
        "completions": sum(1 for e in log for ev in e.events
                           if ev["type"] in template.completion),
        "actions": sum(1 for e in log if _counted(e)),
    }


def _stats(engine: Engine, data: dict[str, Any], template: CompiledTemplate) -> list[str]:
    """Totals, event counts, hourly buckets and participant rows agree with the log."""
    out = []
    activity, log = data["activity"], data["log"]
    stats = engine.stats(data["merchant"], activity.id)
    totals = stats["totals"]
    for name, value in expected_stats(log, template).items():
        if totals[name] != value:
            out.append(f"stats: {name} {totals[name]} != {value} from the log")
    seconds = sum(p.interaction_seconds for p in data["participants"])
    if totals["interaction_seconds"] != seconds:
        out.append(f"stats: interaction_seconds {totals['interaction_seconds']} != {seconds} "
                   f"credited to participants")
    logged_events = Counter(ev["type"] for e in log for ev in e.events)
    if Counter(stats["events"]) != logged_events:
        out.append(f"stats: events {stats['events']} != {dict(logged_events)} from the log")
    return out + _hourly(data["hourly"], log, template) + _participant_rows(data)


def _by_hour(log: list[ActionRecord], template: CompiledTemplate) -> dict[int, Counter[str]]:
    """The hourly buckets as the log says they must be."""
    by_hour: dict[int, Counter[str]] = defaultdict(Counter)
    for e in log:
        if not _counted(e):
            continue
        bucket = by_hour[e.at - e.at % 3600]
        bucket["actions"] += 1
        if e.actor_kind == "participant" and e.action in template.participation:
            bucket["participations"] += 1
        bucket["completions"] += sum(1 for ev in e.events if ev["type"] in template.completion)
    who: dict[int, set[str]] = defaultdict(set)  # distinct participants acting in each hour
    for e in log:
        if e.actor_kind == "participant":
            who[e.at - e.at % 3600].add(e.participant_id)
    for hour, ids in who.items():
        by_hour[hour]["participants"] = len(ids)
    return by_hour


def _hourly(hourly: list[dict[str, Any]], log: list[ActionRecord],
            template: CompiledTemplate) -> list[str]:
    """Hourly buckets agree with the log hour by hour."""
    out = []
    by_hour = _by_hour(log, template)
    for row in hourly:
        want = by_hour.get(row["hour"], Counter())
        for name in ("actions", "participations", "completions", "participants"):
            if row[name] != want[name]:
                out.append(f"stats: hour {row['hour']} {name} {row[name]} != {want[name]}")
    hours = {row["hour"] for row in hourly if row["actions"]}
    if hours != set(by_hour):
        out.append(f"stats: hours with actions {sorted(hours)} != {sorted(by_hour)} in the log")
    return out


def _participant_rows(data: dict[str, Any]) -> list[str]:
    """Every participant with an accepted action has its row, with the right action count."""
    out = []
    acted = Counter(e.participant_id for e in data["log"] if e.actor_kind == "participant")
    rows = {p.participant_id: p for p in data["participants"]}
    for pid, n in acted.items():
        if pid not in rows or rows[pid].actions != n:
            got = rows[pid].actions if pid in rows else None
            out.append(f"participant {pid}: {got} actions stored != {n} logged")
    return out
