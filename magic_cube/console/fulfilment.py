"""Fulfilment in the console: an activity's winners and orders with their redemption codes
(核销码), shipping details for physical items, the warehouse CSV, and a page to verify and
redeem a code at a counter."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.console.activities import pinned_entry
from magic_cube.console.auth import login_required
from magic_cube.console.context import current_merchant, get_engine, load_activity
from magic_cube.console.exports import csv_response, warehouse_csv
from magic_cube.console.labels import STATUS_LABELS, kind_labels, shipping_labels
from magic_cube.console.present import event_name, yuan
from magic_cube.engine.errors import AlreadyRedeemed, CodeNotFound, CodeVoided
from magic_cube.engine.fulfilment import SHIPPING_FIELDS

bp = Blueprint("fulfilment", __name__)

PAGE = 100


@bp.route("/activities/<activity_id>/fulfilment")
@login_required
def show(activity_id: str):
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    search = (request.args.get("q") or "").strip() or None
    after = request.args.get("after") or None
    items = get_engine().redemptions(current_merchant(), activity_id, after=after,
                                     limit=PAGE + 1, search=search)
    more = len(items) > PAGE
    items = items[:PAGE]
    for item in items:
        item["event_label"] = event_name(entry, item["event"])
    return render_template("console/fulfilment.html", activity=activity, items=items,
                           search=search or "", next_after=items[-1]["code"] if more else None,
                           kinds=kind_labels(), shipping_labels=shipping_labels(),
                           shipping_fields=SHIPPING_FIELDS, status_labels=STATUS_LABELS,
                           yuan=yuan)


@bp.route("/activities/<activity_id>/fulfilment/<code>/shipping", methods=["POST"])
@login_required
def ship(activity_id: str, code: str):
    load_activity(activity_id)
    shipping = {k: request.form.get(k, "") for k in SHIPPING_FIELDS}
    try:
        get_engine().ship(current_merchant(), code, shipping,
                          shipped=request.form.get("shipped") == "1")
    except CodeNotFound:
        flash(_("There is no such code."), "error")
    else:
        flash(_("Shipping details saved for %(code)s.", code=code), "success")
    return redirect(url_for("console.fulfilment.show", activity_id=activity_id) + f"#c-{code}")


@bp.route("/activities/<activity_id>/export/fulfilment.csv")
@login_required
def export(activity_id: str):
    activity = load_activity(activity_id)
    return csv_response(warehouse_csv(get_engine(), current_merchant(), activity,
                                      pinned_entry(activity)),
                        f"{activity_id}-fulfilment.csv")


@bp.route("/redeem", methods=["GET", "POST"])
@login_required
def redeem():
    """Verify a code (GET ?code=) and redeem it (POST), once."""
    engine = get_engine()
    code = (request.values.get("code") or "").strip()
    found, error = None, None
    if code:
        try:
            if request.method == "POST":
                found = engine.redeem_code(current_merchant(), code, by=_("console"))
                # Then the code's page by GET: a reload shows it redeemed, rather than posting
                # again and saying "already redeemed" as if someone else had.
                flash(_("Redeemed. Hand over the item."), "success")
                return redirect(url_for("console.fulfilment.redeem", code=found["code"]))
            else:
                found = engine.verify_code(current_merchant(), code)
        except CodeNotFound:
            error = _("There is no such code. Check the letters and try again.")
        except AlreadyRedeemed:
            found = engine.verify_code(current_merchant(), code)
            error = _("This code was already redeemed.")
        except CodeVoided:
            found = engine.verify_code(current_merchant(), code)
            error = _("This code was voided: its holder's results were voided.")
    activity = None
    if found is not None:
        activity = engine.get_activity(current_merchant(), found["activity_id"])
        found["event_label"] = event_name(pinned_entry(activity), found["event"])
    status = 404 if error and found is None else 409 if error else 200
    return render_template("console/redeem.html", code=code, found=found, error=error,
                           activity=activity, kinds=kind_labels(),
                           yuan=yuan), status
