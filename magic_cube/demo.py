"""Demo data for `make run`: one merchant with a live activity of each core template, open to
guests so that anyone can play on the shopper pages, and a console login."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.security import generate_password_hash

from magic_cube.engine import Engine

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # for trying the console on your own machine only
DEMO_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "bargain": ("砍价 · Teapot", {
        "product_name": "Teapot", "original_price": 19900, "floor_price": 9900,
        "helpers_needed": 5, "cut_min": 500, "cut_max": 4000, "stock": 100}),
    "group_buy": ("拼团 · Rice cooker", {
        "product_name": "Rice cooker", "original_price": 29900, "group_price": 19900,
        "group_size": 3, "stock": 300, "virtual_completion": True, "virtual_min_percent": 66}),
    "lottery": ("抽奖 · Lucky draw", {
        "prizes": [
            {"name": "Coupon ¥5", "type": "coupon", "stock": 1000, "odds": 2000},
            {"name": "Tea set", "type": "physical", "stock": 10, "odds": 50},
            {"name": "100 points", "type": "points", "stock": 5000, "odds": 3000},
        ],
        "draws_per_day": 3, "draws_total": 20, "guarantee_every": 10}),
    "gift": ("送礼 · Red packets", {
        "gift_name": "Red packet", "mode": "amount", "split": "random", "max_amount": 20000}),
    "collect_cards": ("集卡 · Five blessings", {
        "cards": [{"name": "爱国福", "odds": 30}, {"name": "富强福", "odds": 30},
                  {"name": "和谐福", "odds": 25}, {"name": "友善福", "odds": 14},
                  {"name": "敬业福", "odds": 1}],
        "prize_name": "Tea set", "prize_stock": 50, "draws_per_day": 3, "ask_hours": 24}),
    # settle_at is filled in when the activity is created: a week from then
    "checkin_pool": ("签到瓜分 · ¥10,000 pool", {
        "pool_amount": 1000000, "days_required": 5, "daily_boost": 10000,
        "boost_time": "20:00"}),
}
SPLIT_AFTER_DAYS = 7
SHANGHAI = ZoneInfo("Asia/Shanghai")


def dated(engine: Engine, config: dict[str, Any]) -> dict[str, Any]:
    """The checkin_pool demo splits its pool a week after it is created (a fixed date would
    be in the past soon), at 20:00 Shanghai time, after that day's top-up."""
    if "pool_amount" not in config:
        return config
    day = datetime.fromtimestamp(engine.now(), SHANGHAI).date() + timedelta(SPLIT_AFTER_DAYS)
    split = datetime.combine(day, time(20, 30), SHANGHAI)
    return {**config, "settle_at": split.isoformat()}


def ensure_demo(engine: Engine) -> dict[str, Any]:
    """Create what is missing (safe to run again) and return a fresh key and token."""
    merchant = engine.merchant_by_email(DEMO_EMAIL)
    if merchant is None:
        merchant, key = engine.create_merchant("Demo shop", DEMO_EMAIL,
                                               generate_password_hash(DEMO_PASSWORD))
    else:
        key = engine.create_api_key(merchant)
    existing, _ = engine.list_activities(merchant, limit=200)
    by_template = {a["template"]["id"]: a for a in existing if a["status"] == "live"}
    activities = []
    for template_id, (title, config) in DEMO_CONFIGS.items():
        activity = by_template.get(template_id)
        if activity is None:
            activity = engine.create_activity(merchant, template_id, dated(engine, config),
                                              title=title, guests=True)
            activity = engine.publish(merchant, activity["id"])
        elif not activity["guests"]:
            activity = engine.update_activity(merchant, activity["id"], {"guests": True})
        activities.append({"template": template_id, "id": activity["id"]})
    token, _ = engine.participant_token(merchant, "demo-user", "Demo user")
    return {"merchant": merchant.id, "api_key": key, "token": token, "participant": "demo-user",
            "participant_secret": merchant.participant_secret, "email": DEMO_EMAIL,
            "password": DEMO_PASSWORD, "activities": activities}
