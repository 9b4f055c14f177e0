"""Translated names of statuses, template kinds and lifecycle verbs (lazy: resolved when a
page renders, in its language)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

STATUS_LABELS = {
    "draft": _l("Draft"),
    "scheduled": _l("Scheduled"),
    "live": _l("Live"),
    "paused": _l("Paused"),
    "ended": _l("Ended"),
    "archived": _l("Archived"),
}

KIND_LABELS = {
    "bargain": _l("Bargain"),
    "group_buy": _l("Group buy"),
    "lottery": _l("Lottery"),
    "gift": _l("Gift"),
    "collect_cards": _l("Collect the cards"),
    "checkin_pool": _l("Check-in pool"),
    "other": _l("Other"),
}

VERB_LABELS = {
    "start": _l("Start now"),
    "pause": _l("Pause"),
    "resume": _l("Resume"),
    "end": _l("End now"),
    "archive": _l("Archive"),
    "duplicate": _l("Duplicate as a new draft"),
}

VERB_DONE = {
    "pause": _l("The activity is paused."),
    "resume": _l("The activity is live again."),
    "end": _l("The activity has ended."),
    "archive": _l("The activity is archived."),
}

ACTOR_LABELS = {  # who an action in the log was made by
    "participant": _l("Participant"),
    "merchant": _l("You (the merchant)"),
    "timer": _l("Timer"),
    "void": _l("Void"),
}

EVENT_STATUS_LABELS = {
    "pending": _l("Pending"),
    "delivered": _l("Delivered"),
    "dead": _l("Dead"),
}


def kind_labels() -> dict[str, str]:
    return {"physical": _("Physical goods"), "coupon": _("Coupon"), "points": _("Points"),
            "virtual": _("Virtual item"), "units": _("Gift units"),
            "amount": _("An amount of money")}


def shipping_labels() -> dict[str, str]:
    return {"name": _("Recipient"), "phone": _("Phone"), "address": _("Address"),
            "carrier": _("Carrier"), "tracking": _("Tracking number")}
