"""The engine: the only door to the store, and the only place that opens a transaction.

`Engine` is the one object the layers above use (API, console, worker, CLI). It is a facade
over small parts that share one `Core` (store, catalog, settings, clock, notifier, caches) and
take the other parts they call in their constructors:

    Accounts(core)                         merchants, logins, API keys, tokens, webhooks
    Performer(core)                        one action inside an open transaction; timers
    Lifecycle(core, performer)             create, edit, publish … archive; due work
    Actions(core, lifecycle, performer)    one action = one transaction; idempotency
    Views(core, lifecycle, performer)      polling with ETags; the console's preview
    Results(core)                          heartbeats, stats, the action log, participants
    Events(core)                           the outbox: listing, redelivery, webhook leases

Replay and audit (`engine.replay`) are functions over the core. Time comes from the engine's
clock (the server's), never from a client. The record types the layers above see are
re-exported here, so that none of them imports the store or the rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from magic_cube.catalog import Catalog, TemplateEntry
from magic_cube.engine.accounts import (
    MAX_PARTICIPANT_ID,
    Accounts,
    EmailTaken,
    LockedOut,
    Participant,
    check_participant_text,
)
from magic_cube.engine.actions import Actions
from magic_cube.engine.analytics import Analytics
from magic_cube.engine.blocks import Blocks
from magic_cube.engine.campaign_forecasts import campaign_forecast
from magic_cube.engine.campaigns import Campaigns
from magic_cube.engine.controls import Controls, StockLine
from magic_cube.engine.core import Core, Notifier
from magic_cube.engine.errors import EngineError
from magic_cube.engine.events import Attempt, Events
from magic_cube.engine.flags import Flags
from magic_cube.engine.forecasts import ActivityForecast, Forecasts, ForecastSetup
from magic_cube.engine.foresight import Refusals, refused_actions
from magic_cube.engine.fulfilment import Fulfilment
from magic_cube.engine.lifecycle import (
    STATUSES,
    ActivityTick,
    Lifecycle,
    known_timezone,
)
from magic_cube.engine.live import Live
from magic_cube.engine.outcomes import Accepted, ActionOutcome, Refused
from magic_cube.engine.performer import Performer
from magic_cube.engine.previews import Previews
from magic_cube.engine.requests import ActionRequest
from magic_cube.engine.sharing import Sharing
from magic_cube.engine.stats import Results
from magic_cube.engine.views import ViewResponse, Views
from magic_cube.rules.days import FIRST_YEAR, LAST_YEAR
from magic_cube.settings import Settings
from magic_cube.store import Conflict, Store
from magic_cube.store.base import ClaimedEvent
from magic_cube.store.records import ActionRecord, ActivityRecord, Merchant, ParticipantRecord
from magic_cube.store.schema import MIGRATIONS

__all__ = [
    "FIRST_YEAR", "LAST_YEAR", "STATUSES", "Accepted", "ActionOutcome", "ActionRecord",
    "ActivityRecord", "ActivityTick", "Attempt", "ClaimedEvent", "Conflict", "EmailTaken",
    "Engine", "EngineError", "LockedOut", "Merchant", "Participant", "ParticipantRecord",
    "Refused", "StockLine", "ViewResponse", "known_timezone",
]

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, store: Store, catalog: Catalog, settings: Settings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.core = core = Core(store, catalog, settings or Settings.load(), clock)
        self.accounts = Accounts(core)
        self.performer = Performer(core)
        self.lifecycle = Lifecycle(core, self.performer)
        self.actions = Actions(core, self.lifecycle, self.performer)
        self.views = Views(core, self.lifecycle, self.performer)
        self.results = Results(core)
        self.events = Events(core)
        self.controls = Controls(core, self.lifecycle)
        self.fulfilment = Fulfilment(core)
        self.blocks = Blocks(core, self.lifecycle, self.performer)
        self.flags = Flags(core)
        self.analytics = Analytics(core)
        self.sharing = Sharing(core)
        self.previews = Previews(core, self.views)
        self.campaigns = Campaigns(core)
        self.forecasts = Forecasts(core, self.lifecycle)
        self.live = Live(core, self.lifecycle, self.performer)
        # activity -> its template's (id, version, content hash): an activity never changes it
        self._pins: dict[str, tuple[str, str, str]] = {}

    # what the parts share ------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def catalog(self) -> Catalog:
        return self.core.catalog

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def clock(self) -> Callable[[], float]:
        return self.core.clock

    @property
    def notifier(self) -> Notifier:
        return self.core.notifier

    def now(self) -> int:
        """Server time in whole epoch seconds."""
        return self.core.now()

    def notify(self, activity_id: str) -> None:
        """Wake this process's long polls on the activity."""
        self.core.notify(activity_id)

    def _entry(self, activity: ActivityRecord) -> TemplateEntry:
        return self.core.entry(activity)

    def close(self) -> None:
        """Close the store (its connections); the engine is not used afterwards."""
        self.core.store.close()

    def check_database(self) -> None:
        """Raise unless the database answers a read transaction (the health check)."""
        with self.core.store.transaction(write=False) as tx:
            tx.get_merchant("")

    def ready(self) -> dict[str, str]:
        """Whether this process can serve (the readiness check): each check (`database`,
        `migrations`) with `ok` or what is wrong. A database that lacks a migration this code
        needs (an old or a replaced one) is not ready until `magic-cube migrate` has run."""
        try:
            with self.core.store.transaction(write=False) as tx:
                applied = set(tx.applied_migrations())
        except Exception as exc:
            log.error("readiness check failed: %s", exc)
            return {"database": f"does not answer ({type(exc).__name__})",
                    "migrations": "unknown"}
        pending = [str(version) for version, _, _ in MIGRATIONS if version not in applied]
        return {"database": "ok",
                "migrations": f"not applied: {', '.join(pending)}" if pending else "ok"}

    def template_of(self, activity_id: str) -> str:
        """The id of the activity's template (for metrics labels). Kept once read: an
        activity never changes template, and every action would otherwise pay a read."""
        return self._pin(activity_id)[0]

    def activity_entry(self, activity_id: str) -> TemplateEntry:
        """The template the activity runs on, exactly as it was published (engine/core.py)."""
        return self.core.pinned(*self._pin(activity_id))

    def _pin(self, activity_id: str) -> tuple[str, str, str]:
        pin = self._pins.get(activity_id)
        if pin is None:
            with self.core.store.transaction(write=False) as tx:
                a = self.core.activity(tx, activity_id)
            pin = (a.template_id, a.template_version, a.template_hash)
            if len(self._pins) >= 100_000:
                self._pins.clear()
            self._pins[activity_id] = pin
        return pin

    # accounts ------------------------------------------------------------------------------

    def create_merchant(self, name: str, email: str | None = None,
                        password_hash: str | None = None) -> tuple[Merchant, str]:
        return self.accounts.create_merchant(name, email, password_hash)

    def sign_up(self, name: str, email: str, password: str) -> tuple[Merchant, str]:
        return self.accounts.sign_up(name, email, password)

    def email_taken(self, email: str) -> bool:
        return self.accounts.email_taken(email)

    def merchant_by_email(self, email: str) -> Merchant | None:
        return self.accounts.merchant_by_email(email)

    def log_in(self, email: str, password: str, address: str | None = None) -> Merchant | None:
        """The merchant, or None for a wrong password; `LockedOut` while failed logins of
        this email from this client address (or from many) lock it."""
        return self.accounts.log_in(email, password, address)

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        return self.accounts.get_merchant(merchant_id)

    def set_webhook(self, merchant: Merchant, url: str | None, secret: str) -> None:
        self.accounts.set_webhook(merchant, url, secret)

    def create_api_key(self, merchant: Merchant) -> str:
        return self.accounts.create_api_key(merchant)

    def revoke_api_key(self, merchant: Merchant, key_id: str) -> bool:
        return self.accounts.revoke_api_key(merchant, key_id)

    def list_api_keys(self, merchant: Merchant) -> list[dict[str, Any]]:
        return self.accounts.list_api_keys(merchant)

    def merchant_for_key(self, api_key: str | None) -> Merchant:
        return self.accounts.merchant_for_key(api_key)

    def participant_token(self, merchant: Merchant, participant_id: str, display_name: str = "",
                          ttl: int | None = None) -> tuple[str, int]:
        return self.accounts.participant_token(merchant, participant_id, display_name, ttl)

    def authenticate_participant(self, activity_id: str, token: str | None) -> Participant:
        return self.accounts.authenticate_participant(activity_id, token)

    # activities ----------------------------------------------------------------------------

    def create_activity(self, merchant: Merchant, template_id: str, config: Any,
                        title: str | None = None, template_version: str | None = None,
                        timezone: str | None = None, starts_at: int | None = None,
                        ends_at: int | None = None, lang: str = "en",
                        guests: bool = False) -> dict[str, Any]:
        return self.lifecycle.create_activity(merchant, template_id, config, title,
                                              template_version, timezone, starts_at, ends_at,
                                              lang, guests)

    def get_activity(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self.lifecycle.get_activity(merchant, activity_id)

    def list_activities(self, merchant: Merchant, status: str | None = None,
                        search: str | None = None, cursor: str | None = None,
                        limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        return self.lifecycle.list_activities(merchant, status, search, cursor, limit)

    def update_activity(self, merchant: Merchant, activity_id: str, changes: dict[str, Any],
                        lang: str = "en") -> dict[str, Any]:
        return self.lifecycle.update_activity(merchant, activity_id, changes, lang)

    def publish(self, merchant: Merchant, activity_id: str,
                starts_at: int | None = None) -> dict[str, Any]:
        """Go live now, or at `starts_at` when that is in the future."""
        return self.lifecycle.transition(merchant, activity_id, "publish", starts_at)

    def pause(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self.lifecycle.transition(merchant, activity_id, "pause")

    def resume(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self.lifecycle.transition(merchant, activity_id, "resume")

    def end(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self.lifecycle.transition(merchant, activity_id, "end")

    def archive(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self.lifecycle.transition(merchant, activity_id, "archive")

    def duplicate(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self.lifecycle.duplicate(merchant, activity_id)

    # live controls (each logged for replay) ------------------------------------------------

    def start_now(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """A scheduled activity goes live now."""
        return self.controls.start_now(merchant, activity_id)

    def set_end(self, merchant: Merchant, activity_id: str, ends_at: int) -> dict[str, Any]:
        """Move a published activity's end to `ends_at` (in the future)."""
        return self.controls.set_end(merchant, activity_id, ends_at)

    def stock_lines(self, merchant: Merchant, activity_id: str) -> list[StockLine]:
        """The stocks of a published activity that a top-up can raise."""
        return self.controls.stock(merchant, activity_id)

    def top_up(self, merchant: Merchant, activity_id: str, field: str,
               add: int) -> dict[str, Any]:
        """Put `add` more units of the stock at `field` (e.g. `prizes.0.stock`) on sale."""
        return self.controls.top_up(merchant, activity_id, field, add)

    # actions -------------------------------------------------------------------------------

    def act(self, activity_id: str, action: str, participant: Participant,
            params: dict[str, Any] | None = None, room_id: str | None = None,
            idempotency_key: str | None = None, lang: str = "en",
            via: str | None = None) -> ActionOutcome:
        """A participant performs `action`: `Accepted`, or `Refused` by the template. `via`
        is the share code that brought them (it names their inviter if this is their first
        accepted action in the activity)."""
        request = ActionRequest(action, participant.id, "participant", params or {}, room_id,
                                participant.display_name, via, device=participant.device,
                                address=participant.address)
        return self.actions.act(activity_id, request, idempotency_key, None, lang)

    def refused_actions(self, activity_id: str, participant: Participant,
                        room_id: str | None = None, lang: str = "en",
                        merchant: Merchant | None = None) -> Refusals:
        """{action: {code, message}}: the participant actions the engine would refuse now
        (worked out with the real checks, writing nothing), for a page to disable them."""
        return refused_actions(self.core, activity_id, participant, room_id, lang, merchant)

    def merchant_act(self, merchant: Merchant, activity_id: str, action: str,
                     participant_id: str, params: dict[str, Any] | None = None,
                     room_id: str | None = None, idempotency_key: str | None = None,
                     lang: str = "en") -> ActionOutcome:
        """The merchant's backend performs a `by: merchant` action for one participant, named
        by an id a token could carry (422 `validation_error` otherwise)."""
        check_participant_text(("participant", participant_id, MAX_PARTICIPANT_ID, 1))
        request = ActionRequest(action, participant_id, "merchant", params or {}, room_id)
        return self.actions.act(activity_id, request, idempotency_key, merchant, lang)

    # Two steps inside an action that tests replace: the one after an Idempotency-Key is
    # claimed (slowed down to hold a key in flight) and the counting (failed, to show that
    # counters commit with their action or not at all).
    @property
    def _act_once(self) -> Callable[..., ActionOutcome]:
        return self.actions.act_once

    @_act_once.setter
    def _act_once(self, step: Callable[..., ActionOutcome]) -> None:
        setattr(self.actions, "act_once", step)  # noqa: B010 (mypy refuses method assignment)

    @property
    def count(self) -> Callable[..., None]:
        return self.performer.count

    @count.setter
    def count(self, step: Callable[..., None]) -> None:
        self.performer.count = step

    # polling -------------------------------------------------------------------------------

    def public_view(self, activity_id: str, if_none_match: str | None = None, wait: float = 0,
                    lang: str = "en") -> ViewResponse:
        return self.views.public_view(activity_id, if_none_match, wait, lang)

    def room_view(self, activity_id: str, room_id: str, participant: Participant,
                  if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        return self.views.room_view(activity_id, room_id, participant, if_none_match, wait)

    def me_view(self, activity_id: str, participant: Participant,
                if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        return self.views.me_view(activity_id, participant, if_none_match, wait)

    def row_names(self, activity_id: str) -> dict[str, list[str]]:
        return self.views.row_names(activity_id)

    def preview(self, merchant: Merchant, activity_id: str, lang: str = "en") -> dict[str, Any]:
        """The participant's view of the merchant's activity, a draft's included."""
        return self.views.preview(merchant, activity_id, lang)

    # results -------------------------------------------------------------------------------

    def heartbeat(self, activity_id: str, participant: Participant) -> dict[str, Any]:
        return self.results.heartbeat(activity_id, participant)

    def stats(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        body = self.results.stats(merchant, activity_id)
        body["sharing"] = self.sharing.summary(merchant, activity_id)
        return body

    # sharing -------------------------------------------------------------------------------

    def share(self, activity_id: str, participant: Participant,
              room_id: str | None = None) -> dict[str, Any]:
        """The participant's share code for the activity or one of its rooms."""
        return self.sharing.share(activity_id, participant, room_id)

    def open_share(self, code: str) -> dict[str, Any]:
        """Where a share code leads; counts one open of the link."""
        return self.sharing.open_share(code)

    def preview_token(self, merchant: Merchant, activity_id: str) -> str:
        """A short-lived token that shows the merchant's activity on its shopper page in
        preview (drafts included; nothing can be done there)."""
        return self.previews.token(merchant, activity_id)

    def preview_public_view(self, activity_id: str, token: str,
                            lang: str = "en") -> dict[str, Any]:
        """The public view a preview token allows (a draft's, on its initial state)."""
        return self.previews.body(activity_id, token, lang)

    def guest_token(self, activity_id: str, nickname: Any) -> dict[str, Any]:
        """A guest's token, on an activity open to guests."""
        return self.accounts.guest_token(activity_id, nickname)

    def action_log(self, merchant: Merchant, activity_id: str, after: int = 0,
                   limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        return self.results.action_log(merchant, activity_id, after, limit)

    def participants(self, activity_id: str, after: str | None = None,
                     limit: int = 1000) -> list[ParticipantRecord]:
        return self.results.participants(activity_id, after, limit)

    def count_participants(self, activity_id: str) -> int:
        return self.results.count_participants(activity_id)

    def list_events(self, merchant: Merchant, activity_id: str, status: str | None = None,
                    after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        return self.events.page(merchant, activity_id, status, after, limit)

    def redeliver_event(self, merchant: Merchant, activity_id: str,
                        event_id: int) -> dict[str, Any]:
        return self.events.redeliver(merchant, activity_id, event_id)

    # fulfilment and analytics --------------------------------------------------------------

    def redemptions(self, merchant: Merchant, activity_id: str, after: str | None = None,
                    limit: int = 100, search: str | None = None) -> list[dict[str, Any]]:
        """The activity's winners and orders with their codes, oldest first."""
        return self.fulfilment.list(merchant, activity_id, after, limit, search)

    def verify_code(self, merchant: Merchant, code: str) -> dict[str, Any]:
        return self.fulfilment.verify(merchant, code)

    def redeem_code(self, merchant: Merchant, code: str, by: str = "") -> dict[str, Any]:
        """Redeem once; `AlreadyRedeemed` afterwards (of concurrent redeems, one wins)."""
        return self.fulfilment.redeem(merchant, code, by)

    def ship(self, merchant: Merchant, code: str, shipping: dict[str, Any],
             shipped: bool = False) -> dict[str, Any]:
        return self.fulfilment.ship(merchant, code, shipping, shipped)

    def funnel(self, merchant: Merchant, activity_id: str, since: int,
               until: int) -> list[dict[str, Any]]:
        return self.analytics.funnel(merchant, activity_id, since, until)

    def actors(self, merchant: Merchant, activity_id: str, since: int, until: int) -> int:
        return self.analytics.actors(merchant, activity_id, since, until)

    # live lists of rooms (the console) -----------------------------------------------------

    def live_rooms(self, merchant: Merchant, activity_id: str, status: str | None = None,
                   cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
        """A page of the activity's rooms, newest first, with their members and room values."""
        return self.live.rooms(merchant, activity_id, status, cursor, limit)

    def timer_schedule(self, merchant: Merchant, activity_id: str) -> list[dict[str, Any]]:
        """When each of the activity's own timers runs next: time, timer, action, title."""
        return self.live.schedule(merchant, activity_id)

    def live_room(self, merchant: Merchant, activity_id: str, room_id: str) -> dict[str, Any]:
        """One room of the activity with its members and the actions on it, newest first."""
        return self.live.room(merchant, activity_id, room_id)

    # forecasts -----------------------------------------------------------------------------

    def forecast_setup(self, merchant: Merchant | None, activity_id: str) -> ForecastSetup:
        """Where a forecast of the activity starts (now and its state once live, else its
        planned start), its default duration, the conversion steps and costed items it asks
        about. `merchant` None: any activity (the command line)."""
        return self.forecasts.setup(merchant, activity_id)

    def forecast(self, merchant: Merchant | None, activity_id: str,
                 assumptions: dict[str, Any] | None = None, runs: int = 50,
                 seed: str | int = "0", lang: str = "en",
                 time_budget: float | None = 8.0) -> ActivityForecast:
        """Monte Carlo runs of the activity's rules under `assumptions` (docs/forecast.md):
        at most 200 runs, as many as finish within `time_budget` seconds (None: all)."""
        return self.forecasts.forecast(merchant, activity_id, assumptions, runs, seed, lang,
                                       time_budget)

    # campaigns (engine/campaigns.py) -------------------------------------------------------

    def create_campaign(self, merchant: Merchant, name: Any, timezone: Any, starts_on: Any,
                        ends_on: Any) -> dict[str, Any]:
        return self.campaigns.create(merchant, name, timezone, starts_on, ends_on)

    def list_campaigns(self, merchant: Merchant) -> list[dict[str, Any]]:
        return self.campaigns.of(merchant)

    def get_campaign(self, merchant: Merchant, campaign_id: str) -> dict[str, Any]:
        return self.campaigns.get(merchant, campaign_id)

    def add_campaign_activity(self, merchant: Merchant, campaign_id: str,
                              activity_id: str) -> dict[str, Any]:
        return self.campaigns.add_activity(merchant, campaign_id, activity_id)

    def remove_campaign_activity(self, merchant: Merchant, campaign_id: str,
                                 activity_id: str) -> dict[str, Any]:
        return self.campaigns.remove_activity(merchant, campaign_id, activity_id)

    def campaign_stats(self, merchant: Merchant, campaign_id: str) -> dict[str, Any]:
        return self.campaigns.stats(merchant, campaign_id)

    def invite_to_campaign(self, merchant: Merchant, campaign_id: str) -> dict[str, Any]:
        return self.campaigns.invite(merchant, campaign_id)

    def campaign_invites(self, merchant: Merchant, campaign_id: str) -> list[dict[str, Any]]:
        return self.campaigns.invites(merchant, campaign_id)

    def campaign_invitation(self, code: str) -> dict[str, Any]:
        return self.campaigns.invitation(code)

    def accept_campaign_invite(self, merchant: Merchant, code: str) -> dict[str, Any]:
        return self.campaigns.accept(merchant, code)

    def set_operator(self, merchant_id: str, operator: bool = True) -> Merchant:
        return self.campaigns.set_operator(merchant_id, operator)

    def campaign_forecast(self, merchant: Merchant, campaign_id: str,
                          assumptions: dict[str, Any] | None = None, runs: int = 50,
                          seed: str | int = "0", lang: str = "en",
                          time_budget: float | None = 8.0) -> dict[str, Any]:
        """The campaign's activities forecast together (engine/campaign_forecasts.py)."""
        return campaign_forecast(self.campaigns, self.forecasts, merchant, campaign_id,
                                 assumptions, runs, seed, lang, time_budget)

    # the worker ----------------------------------------------------------------------------

    def due_activities(self, now: int, limit: int) -> list[str]:
        return self.lifecycle.due_activities(now, limit)

    def tick(self, activity_id: str, now: int) -> ActivityTick | None:
        return self.lifecycle.tick(activity_id, now)

    def claim_events(self, now: int, lease: int, limit: int) -> list[ClaimedEvent]:
        return self.events.claim(now, lease, limit)

    def record_attempts(self, attempts: list[Attempt], now: int) -> None:
        self.events.record(attempts, now)

    def purge_idempotency_keys(self, now: int) -> int:
        return self.actions.purge_keys(now)

    def purge_login_failures(self, now: int) -> int:
        """Forget failed console logins that no longer count towards or hold a lock."""
        return self.accounts.purge_login_failures(now)

    def pending_webhooks(self) -> int:
        """Events waiting for webhook delivery: pending, of merchants with a webhook URL."""
        with self.core.store.transaction(write=False) as tx:
            return tx.count_pending_webhooks()
