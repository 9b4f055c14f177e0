"""Campaigns: activities run together and reported as one (a festival).

A campaign belongs to the merchant who created it (its owner). A plain merchant groups its own
activities; an operator (a merchant with the operator flag, set from the command line) invites
other merchants, who add their own activities. Everyone in the campaign sees its totals, and
the rows (names and figures) of its own activities only: an operator sees other merchants'
activities as part of the totals, never one by one; nobody sees another merchant's activity
itself (those routes keep answering 404).

Counting (`count_action`, `count_interaction`) runs inside the transaction of the action or
heartbeat it counts, called from `engine/stats.py`: buckets per (campaign, activity, hour), so
an activity's actions only write their own rows and the activities of one campaign never wait
for each other; `campaign_participants` dedupes participants across activities (and, on a
platform, across merchants, by the participant id each merchant passes). An activity counts
from the moment it is added (and the campaign has started) until it is removed or the campaign
ends; adding an activity does not backfill its earlier actions.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from magic_cube.engine.core import Core, new_id
from magic_cube.engine.errors import (
    ActivityNotFound,
    AlreadyMember,
    CampaignNotFound,
    EngineError,
    InvalidCampaign,
    InviteNotFound,
    InviteUsed,
    OperatorOnly,
    OwnerOnly,
)
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.days import FIRST_YEAR, LAST_YEAR, is_iana_zone
from magic_cube.rules.model import Outcome
from magic_cube.store import Tx
from magic_cube.store.records import ActivityRecord, Merchant

HOURLY = ("participations", "participants", "first_ever", "new_to_activity",
          "interaction_seconds", "completions", "actions", "invited")
MAX_DAYS = 366
INVITE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _hour(ts: int) -> int:
    return ts - ts % 3600


# counting, inside the action's transaction ------------------------------------------------

def counting(tx: Tx, activity: ActivityRecord, now: int) -> list[tuple[str, int]]:
    """(campaign, since) of each campaign counting the activity's actions at `now`, from the
    list the store keeps on the activity's row (so an action looks nothing up for it)."""
    listed = activity.campaigns
    if listed is None:  # an activity from before the list was kept: kept from now on
        listed = activity.campaigns = tx.campaigns_of(activity.id)
        tx.update_activity(activity.id, bump=False, campaigns=listed)
    return [(campaign, since) for campaign, since, until in listed if since <= now < until]


def count_action(tx: Tx, activity: ActivityRecord, template: CompiledTemplate, action: str,
                 participant: str, by_participant: bool, outcome: Outcome, now: int,
                 credited: int, new_to_activity: bool, first_time: bool, hour_marked: bool,
                 invited: bool) -> None:
    """Move the counters of every campaign counting the activity for one accepted action.

    Written at once, not deferred: a savepoint of group commit that rolls back takes them with
    it. The participant is looked up in the campaign at most once per activity and hour
    (`hour_marked`: an earlier action this hour, already counted, put them there)."""
    if not (counted := counting(tx, activity, now)):
        return
    hour = _hour(now)
    completions = Counter(e.type for e in outcome.events if e.type in template.completion)
    inviter: str | None = None
    if invited:
        record = tx.get_participant(activity.id, participant)
        inviter = record.inviter if record else None
    for campaign_id, since in counted:
        deltas = {"actions": 1, "interaction_seconds": credited,
                  "completions": sum(completions.values())}
        if by_participant:
            deltas["participations"] = int(action in template.participation)
            deltas["new_to_activity"] = int(new_to_activity)
            known = hour_marked and since < hour  # the earlier action came after `since`
            if not known and tx.join_campaign(campaign_id, participant, activity.id, now,
                                              first_time, inviter):
                deltas["participants"] = 1
                deltas["first_ever"] = int(first_time)
                deltas["invited"] = int(inviter is not None)
        tx.add_campaign_stats(campaign_id, activity.id, hour, deltas)
        if completions:
            tx.add_campaign_completions(campaign_id, activity.id, hour, dict(completions))


def count_interaction(tx: Tx, activity: ActivityRecord, now: int, credited: int) -> None:
    """Interaction seconds a heartbeat credited, in the heartbeat's transaction."""
    if credited:
        for campaign_id, _since in counting(tx, activity, now):
            tx.add_campaign_stats(campaign_id, activity.id, _hour(now),
                                  {"interaction_seconds": credited})


# reading and managing -----------------------------------------------------------------------

def _day_bounds(starts_on: str, ends_on: str, tz: str) -> tuple[int, int]:
    zone = ZoneInfo(tz)
    first, last = date.fromisoformat(starts_on), date.fromisoformat(ends_on)
    return (int(datetime.combine(first, time(), zone).timestamp()),
            int(datetime.combine(last + timedelta(days=1), time(), zone).timestamp()))


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _checked(name: Any, timezone: Any, starts_on: Any, ends_on: Any) -> dict[str, Any]:
    """The campaign's settings, or `InvalidCampaign` with an error per field."""
    errors: dict[str, list[dict[str, str]]] = {}

    def bad(field: str, code: str, message: str) -> None:
        errors.setdefault(field, []).append({"code": code, "message": message})

    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 100:
        bad("name", "length", "A name is 1 to 100 characters")
    if not isinstance(timezone, str) or not is_iana_zone(timezone):
        bad("timezone", "timezone", "Not an IANA time zone this server knows: use a name "
                                         "such as Asia/Shanghai")
    days: list[date | None] = []
    for field, value in (("starts_on", starts_on), ("ends_on", ends_on)):
        day = _day(value)
        if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:  # times out of range
            day = None
        if day is None:
            bad(field, "date", f"A date as YYYY-MM-DD, from {FIRST_YEAR} to {LAST_YEAR}")
        days.append(day)
    first, last = days
    if first is not None and last is not None:
        if last < first:
            bad("ends_on", "range", "The campaign cannot end before it starts")
        elif (last - first).days >= MAX_DAYS:
            bad("ends_on", "range", f"A campaign lasts at most {MAX_DAYS} days")
    if errors:
        raise InvalidCampaign(errors=errors)
    assert first is not None and last is not None
    return {"name": name, "timezone": timezone, "starts_on": first.isoformat(),
            "ends_on": last.isoformat()}


def _sum(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Buckets summed by `key` (a column of the rows), in order of it."""
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        into = out.setdefault(row[key], {key: row[key], **{c: 0 for c in HOURLY}})
        for c in HOURLY:
            into[c] += int(row[c])
    return [out[k] for k in sorted(out)]


def _shown(counts: dict[str, Any]) -> dict[str, Any]:
    return {"participations": counts["participations"],
            "new_participants": counts["participants"],
            "first_ever_participants": counts["first_ever"],
            "new_to_activity": counts["new_to_activity"],
            "interaction_seconds": counts["interaction_seconds"],
            "interaction_minutes": round(counts["interaction_seconds"] / 60, 1),
            "completions": counts["completions"],
            "invited": counts["invited"],
            "actions": counts["actions"]}


class Campaigns:
    """Create campaigns, add activities, invite merchants, read the totals."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _campaign(self, tx: Tx, merchant: Merchant, campaign_id: str
                  ) -> tuple[dict[str, Any], str]:
        """The campaign and the merchant's role in it; `CampaignNotFound` if it has none."""
        campaign = tx.get_campaign(campaign_id) if isinstance(campaign_id, str) else None
        role = tx.campaign_role(campaign_id, merchant.id) if campaign else None
        if campaign is None or role is None:
            raise CampaignNotFound()
        return campaign, role

    def _describe(self, tx: Tx, merchant: Merchant, campaign: dict[str, Any],
                  role: str) -> dict[str, Any]:
        counted = [a for a in tx.list_campaign_activities(campaign["id"])
                   if a["removed_at"] is None]
        activities = [a for a in counted if a["merchant_id"] == merchant.id]
        owner = tx.get_merchant(campaign["owner_id"])
        out = {k: campaign[k] for k in ("id", "name", "timezone", "starts_on", "ends_on",
                                        "starts_at", "ends_at", "created_at")}
        out.update(role=role, owner={"id": campaign["owner_id"],
                                     "name": owner.name if owner else ""},
                   activities=[{"id": a["activity_id"], "title": a["title"],
                                "template_id": a["template_id"], "status": a["status"],
                                "merchant_id": a["merchant_id"],
                                "merchant_name": a["merchant_name"],
                                "added_at": a["added_at"],
                                "own": True} for a in activities],
                   other_activities=len(counted) - len(activities))
        if role == "owner":
            out["members"] = tx.list_campaign_members(campaign["id"])
        return out

    def create(self, merchant: Merchant, name: Any, timezone: Any, starts_on: Any,
               ends_on: Any) -> dict[str, Any]:
        settings = _checked(name, timezone, starts_on, ends_on)
        starts_at, ends_at = _day_bounds(settings["starts_on"], settings["ends_on"],
                                         settings["timezone"])
        now = self.core.now()
        row = {"id": new_id("c"), "owner_id": merchant.id, **settings, "starts_at": starts_at,
               "ends_at": ends_at, "created_at": now}
        with self.core.store.transaction() as tx:
            tx.insert_campaign(row)
            tx.add_campaign_member(row["id"], merchant.id, "owner", now)
            return self._describe(tx, merchant, row, "owner")

    def of(self, merchant: Merchant) -> list[dict[str, Any]]:
        with self.core.store.transaction(write=False) as tx:
            return [self._describe(tx, merchant, c, c["role"])
                    for c in tx.list_campaigns(merchant.id)]

    def get(self, merchant: Merchant, campaign_id: str) -> dict[str, Any]:
        with self.core.store.transaction(write=False) as tx:
            campaign, role = self._campaign(tx, merchant, campaign_id)
            return self._describe(tx, merchant, campaign, role)

    def counted(self, merchant: Merchant, campaign_id: str) -> list[dict[str, Any]]:
        """Every counted activity (`id`, `title`, `status`, `merchant_id`), other merchants'
        included: for figures the campaign shows only as a whole (its forecast)."""
        with self.core.store.transaction(write=False) as tx:
            campaign, _role = self._campaign(tx, merchant, campaign_id)
            return [{"id": a["activity_id"], "title": a["title"], "status": a["status"],
                     "merchant_id": a["merchant_id"]}
                    for a in tx.list_campaign_activities(campaign["id"])
                    if a["removed_at"] is None]

    def add_activity(self, merchant: Merchant, campaign_id: str,
                     activity_id: str) -> dict[str, Any]:
        """Count the merchant's own activity in the campaign from now (no backfill)."""
        with self.core.store.transaction() as tx:
            campaign, role = self._campaign(tx, merchant, campaign_id)
            self.core.activity(tx, activity_id, merchant)  # another merchant's: 404
            tx.add_campaign_activity(campaign_id, activity_id, merchant.id, self.core.now())
            return self._describe(tx, merchant, campaign, role)

    def remove_activity(self, merchant: Merchant, campaign_id: str,
                        activity_id: str) -> dict[str, Any]:
        """Stop counting an activity (the owner any, a member its own); counted stays."""
        with self.core.store.transaction() as tx:
            campaign, role = self._campaign(tx, merchant, campaign_id)
            found = next((a for a in tx.list_campaign_activities(campaign_id)
                          if a["activity_id"] == activity_id and a["removed_at"] is None), None)
            if found is None or (role != "owner" and found["merchant_id"] != merchant.id):
                raise ActivityNotFound()
            tx.remove_campaign_activity(campaign_id, activity_id, self.core.now())
            return self._describe(tx, merchant, campaign, role)

    # invitations ----------------------------------------------------------------------------

    def invite(self, merchant: Merchant, campaign_id: str) -> dict[str, Any]:
        """A single-use code another merchant accepts to join (operators only)."""
        with self.core.store.transaction() as tx:
            _campaign, role = self._campaign(tx, merchant, campaign_id)
            if role != "owner":
                raise OwnerOnly()
            if not merchant.operator:
                raise OperatorOnly()
            code = secrets.token_urlsafe(12)
            tx.insert_campaign_invite(code, campaign_id, self.core.now())
            invite = tx.get_campaign_invite(code)
        assert invite is not None
        return invite

    def invites(self, merchant: Merchant, campaign_id: str) -> list[dict[str, Any]]:
        with self.core.store.transaction(write=False) as tx:
            _campaign, role = self._campaign(tx, merchant, campaign_id)
            if role != "owner":
                raise OwnerOnly()
            return tx.list_campaign_invites(campaign_id)

    def invitation(self, code: str) -> dict[str, Any]:
        """What an invitation is for (the campaign's name, dates and operator), by its code."""
        with self.core.store.transaction(write=False) as tx:
            invite = tx.get_campaign_invite(code) if INVITE.match(code or "") else None
            campaign = tx.get_campaign(invite["campaign_id"]) if invite else None
            if invite is None or campaign is None:
                raise InviteNotFound()
            owner = tx.get_merchant(campaign["owner_id"])
        return {"code": code, "campaign_id": campaign["id"], "name": campaign["name"],
                "starts_on": campaign["starts_on"], "ends_on": campaign["ends_on"],
                "timezone": campaign["timezone"], "operator": owner.name if owner else "",
                "accepted": invite["accepted_by"] is not None}

    def accept(self, merchant: Merchant, code: str) -> dict[str, Any]:
        """Join the campaign an invitation is for; the code is used up."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            invite = tx.get_campaign_invite(code) if INVITE.match(code or "") else None
            campaign = tx.get_campaign(invite["campaign_id"]) if invite else None
            if invite is None or campaign is None:
                raise InviteNotFound()
            if tx.campaign_role(campaign["id"], merchant.id) is not None:
                raise AlreadyMember()
            if not tx.accept_campaign_invite(code, merchant.id, now):
                raise InviteUsed()
            tx.add_campaign_member(campaign["id"], merchant.id, "member", now)
            return self._describe(tx, merchant, campaign, "member")

    # results --------------------------------------------------------------------------------

    def stats(self, merchant: Merchant, campaign_id: str) -> dict[str, Any]:
        """Totals, per activity (the merchant's own only, the owner's too), hourly and daily
        (days in the campaign's time zone)."""
        with self.core.store.transaction(write=False) as tx:
            campaign, _role = self._campaign(tx, merchant, campaign_id)
            buckets = tx.campaign_buckets(campaign_id)
            people = tx.campaign_people(campaign_id)
            kinds = tx.campaign_completion_counts(campaign_id)
            activities = tx.list_campaign_activities(campaign_id)
        zone = ZoneInfo(campaign["timezone"])
        hourly = _sum(buckets, "hour")
        for row in buckets:
            row["date"] = datetime.fromtimestamp(row["hour"], tz=UTC).astimezone(zone).date()
        daily = _sum(buckets, "date")
        by_kind: Counter[str] = Counter()
        kinds_of: dict[str, Counter[str]] = {}
        for activity_id, kind, n in kinds:
            by_kind[kind] += n
            kinds_of.setdefault(activity_id, Counter())[kind] += n
        totals = _shown({c: sum(h[c] for h in hourly) for c in HOURLY})
        inviters = people["inviters"]
        totals.update(unique_participants=people["participants"],
                      first_ever_participants=people["first_ever"],
                      invited_participants=people["invited"], inviting_participants=inviters,
                      k_factor=round(people["invited"] / inviters, 3) if inviters else 0.0,
                      completions_by_kind=dict(sorted(by_kind.items())),
                      activities=sum(1 for a in activities if a["removed_at"] is None),
                      merchants=len({a["merchant_id"] for a in activities}))
        per = {r["activity_id"]: r for r in _sum(buckets, "activity_id")}
        per_activity = []
        for a in activities:
            if a["merchant_id"] != merchant.id:
                continue
            counts = per.get(a["activity_id"]) or {c: 0 for c in HOURLY}
            per_activity.append({
                "activity_id": a["activity_id"], "title": a["title"],
                "template_id": a["template_id"], "merchant_id": a["merchant_id"],
                "merchant_name": a["merchant_name"], "added_at": a["added_at"],
                "removed_at": a["removed_at"], **_shown(counts),
                "completions_by_kind": dict(sorted(kinds_of.get(a["activity_id"], {}).items()))})
        return {"campaign_id": campaign_id, "timezone": campaign["timezone"], "totals": totals,
                "per_activity": per_activity,
                "hourly": [{"hour": h["hour"], **_shown(h)} for h in hourly],
                "daily": [{"date": d["date"].isoformat(), **_shown(d)} for d in daily]}

    # operators ------------------------------------------------------------------------------

    def set_operator(self, merchant_id: str, operator: bool = True) -> Merchant:
        """Make a merchant an operator (or not): only the command line does this."""
        with self.core.store.transaction() as tx:
            if tx.get_merchant(merchant_id) is None:
                raise EngineError("No such merchant", code="merchant_not_found", status=404)
            tx.update_merchant(merchant_id, operator=bool(operator))
            found = tx.get_merchant(merchant_id)
        assert found is not None
        return found
