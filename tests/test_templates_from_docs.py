"""Templates written from docs/templates.md alone (tests/templates/: a check-in streak, a quiz,
a team splitting a pot, a daily coupon grab, invite rewards, a vote), as an outside author
would: each must validate without a warning, pass its own scenarios in the simulator, and play
the same scenarios through the real Engine on a SQLite file: created and published by a
merchant, acted on by participants with their devices (and the share links a step's `via`
names), its timers fired by the engine's lazy rules, and read back through the views the API
serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from magic_cube.app import create_app
from magic_cube.catalog import Catalog
from magic_cube.cli import cli
from magic_cube.engine import Engine, Participant
from magic_cube.engine.errors import EngineError
from magic_cube.engine.invariants import read_all
from magic_cube.scenarios import matches, parse_time
from magic_cube.settings import Settings
from magic_cube.store import open_store
from tests.engine_helpers import Clock, create_merchant, invariants

HERE = Path(__file__).resolve().parent / "templates"
TEMPLATES = sorted(p.name for p in HERE.iterdir() if (p / "template.json").is_file())
SCENARIOS = sorted((t, p.name) for t in TEMPLATES for p in (HERE / t / "scenarios").glob("*.json"))


def test_there_are_templates_of_six_kinds_with_scenarios() -> None:
    assert TEMPLATES == ["coupon_grab", "invite_reward", "quiz", "streak_checkin", "team_pot",
                         "vote"]
    assert {t for t, _ in SCENARIOS} == set(TEMPLATES)


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_the_template_validates_without_a_warning(template_id: str) -> None:
    result = CliRunner().invoke(cli, ["templates", "validate", str(HERE / template_id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{HERE / template_id}: valid", result.output


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_the_scenarios_pass_in_the_simulator(template_id: str) -> None:
    result = CliRunner().invoke(cli, ["templates", "test", str(HERE / template_id)])
    assert result.exit_code == 0 and " 0 failed" in result.output, result.output


class Player:
    """Plays one scenario file through an Engine: what `magic-cube templates test` checks in
    the simulator, checked against the stored state and the views the API would serve."""

    def __init__(self, directory: Path, template_id: str, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.now = parse_time(doc["start"], 0)
        self.clock = Clock(self.now)
        self.store = store = open_store(f"sqlite:///{directory / 'magic-cube.db'}")
        store.migrate()
        catalog = Catalog.discover([HERE / template_id], entry_points=False)
        self.engine = Engine(store, catalog, Settings.load({}, environ={}), self.clock)
        self.merchant = create_merchant(self.engine)
        ends = parse_time(doc["end"], self.now) if "end" in doc else None
        created = self.engine.create_activity(
            self.merchant, template_id, doc["config"], timezone=doc.get("timezone",
                                                                        "Asia/Shanghai"),
            starts_at=self.now, ends_at=ends)
        self.aid = created["id"]
        self.engine.publish(self.merchant, self.aid)
        self.rooms: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.codes: dict[str, str] = {}

    def participant(self, name: str, step: dict[str, Any] | None = None) -> Participant:
        step = step or {}
        self.names.setdefault(name, step.get("name", name.title()))
        return Participant(name, self.names[name], device=step.get("device", ""),
                           address=step.get("address", ""))

    def via(self, sharer: str) -> str:
        """The share code of `sharer`'s link to the activity, as the step's `via` names them."""
        if sharer not in self.codes:
            self.codes[sharer] = self.engine.share(self.aid, self.participant(sharer))["code"]
        return self.codes[sharer]

    def seen_before(self, name: str) -> None:
        """A step's `"first_time": false` on an actor's first step: the merchant has seen them
        act in another activity before."""
        with self.store.transaction() as tx:
            tx.remember_participant(self.merchant.id, name, "act_elsewhere", self.now - 86400)

    def play(self) -> list[str]:
        failures: list[str] = []
        for i, step in enumerate(self.doc["steps"]):
            failures += [f"steps[{i}]: {f}" for f in self.step(step)]
        return failures

    def step(self, step: dict[str, Any]) -> list[str]:
        if "at" in step:
            self.now = parse_time(step["at"], self.now)
            self.clock.now = float(self.now)
        before = len(read_all(self.engine, self.aid)["log"])
        expect = step.get("expect", {})
        out: list[str] = []
        if "action" in step:
            room = self.rooms[step["room"]] if "room" in step else None
            if step.get("first_time") is False and step["actor"] not in self.names:
                self.seen_before(step["actor"])
            via = self.via(step["via"]) if "via" in step else None
            try:
                outcome = self.engine.act(self.aid, step["action"],
                                          self.participant(step["actor"], step),
                                          step.get("params"), room_id=room, via=via)
            except EngineError as error:  # not the rules' refusal: an ended activity's
                if "error" not in expect:
                    return [f"refused {error.code}: {error}"]
                return matches(expect["error"], error.code, "error")
            if "error" in expect:
                if outcome.ok:
                    return [f"expected {expect['error']}, the action was accepted"]
                out += matches(expect["error"], outcome.code, "error")
            elif not outcome.ok:
                return [f"refused {outcome.code}: {outcome.message}"]
            else:
                out += matches(expect.get("result", {}), outcome.result, "result")
                if "events" in expect:
                    out += matches(expect["events"], outcome.events, "events")
                if "save_room" in step:
                    assert outcome.room is not None
                    self.rooms[step["save_room"]] = outcome.room
        else:
            self.engine.tick(self.aid, self.now)  # the worker's round: every due timer
            log = read_all(self.engine, self.aid)["log"][before:]
            if "events" in expect:
                out += matches(expect["events"], [e["type"] for r in log for e in r.events],
                               "events")
        out += self.views(step)
        out += self.state(step)
        return out

    def views(self, step: dict[str, Any]) -> list[str]:
        out = []
        for name, expected in step.get("expect_view", {}).items():
            if name == "public":
                body = self.engine.public_view(self.aid).body
            elif name.startswith("me:"):
                body = self.engine.me_view(self.aid, self.participant(name[3:])).body
            else:
                room, _, viewer = name[5:].partition("@")
                body = self.engine.room_view(self.aid, self.rooms[room],
                                             self.participant(viewer or step["actor"])).body
            assert body is not None
            out += matches(expected, body["view"], f"view {name}")
        return out

    def state(self, step: dict[str, Any]) -> list[str]:
        if "expect_state" not in step:
            return []
        stored = read_all(self.engine, self.aid)
        people = {p.participant_id: p.state for p in stored["participants"]}
        rooms = {r.id: r for r in stored["rooms"]}
        out = []
        for name, expected in step["expect_state"].items():
            if name == "activity":
                actual: Any = stored["activity"].state
            elif name.startswith("me:"):
                actual = people.get(name[3:])
            else:
                r = rooms[self.rooms[name[5:]]]
                actual = {"status": r.status, "size": len(r.members), "state": r.state}
            out += matches(expected, actual, name)
        return out


@pytest.mark.parametrize(("template_id", "scenario"), SCENARIOS)
def test_the_scenario_plays_the_same_through_the_engine_on_sqlite(
        tmp_path: Path, template_id: str, scenario: str) -> None:
    doc = json.loads((HERE / template_id / "scenarios" / scenario).read_text("utf-8"))
    player = Player(tmp_path, template_id, doc)
    assert player.play() == []
    assert invariants(player.engine, player.aid) == []


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.mark.parametrize(("lang", "shares", "won", "closed"), [
    ("zh", "各人所得 A***: ¥", "累计分得 ¥", "这个房间已结束"),
    ("en", "Shares A***: ¥", "Won in all ¥", "This room is closed")])
def test_a_filled_teams_generic_page_shows_shares_in_yuan_and_takes_no_more_joins(
        tmp_path: Path, lang: str, shares: str, won: str, closed: str) -> None:
    """team_pot ships no page.html: the generic page shows each member's share of the pot (a
    map of money kept in a room variable, written from a split of what is left) and what a
    shopper won (written through `with`) in yuan, and a full team's join button is off."""
    catalog = Catalog.discover([HERE / "team_pot"], entry_points=False)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": Clock(),
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}})
    engine = app.extensions["magic_cube"]
    merchant = create_merchant(engine)
    aid = engine.create_activity(merchant, "team_pot",
                                 {"pot": 1000, "team_size": 2, "pots": 3})["id"]
    engine.publish(merchant, aid)
    room = engine.act(aid, "start", Participant("alice", "Alice")).room
    client = app.test_client()

    def page(who: str) -> str:
        token = engine.participant_token(merchant, who, who.title())[0]
        return client.get(f"/s/{aid}/part?room={room}&lang={lang}",
                          headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)

    join = re.search(r'<button[^>]*data-action="join"[^>]*>', page("bob")).group(0)
    assert "disabled" not in join
    assert engine.act(aid, "join", Participant("bob", "Bob"), room_id=room).ok
    html = page("alice")
    shown = text_of(html)
    assert re.search(re.escape(shares) + r"\d+\.\d\d · B\*\*\*: ¥\d+\.\d\d", shown), shown
    assert re.search(re.escape(won) + r"\d+\.\d\d", shown), shown
    amounts = re.findall(r"[AB]\*\*\*: ¥(\d+)\.(\d\d)", shown)
    assert sum(int(y) * 100 + int(f) for y, f in amounts) == 1000
    join = re.search(r'<button[^>]*data-action="join"[^>]*>.*?</button>\s*<p class="mc-why">'
                     r"(.*?)</p>", html, re.S)
    assert join and " disabled" in join.group(0) and join.group(1) == closed


@pytest.mark.parametrize(("lang", "stock", "won"), [
    ("zh", "奖品剩余 Coffee coupon: 0 · Mug: 5", "已获奖品 Coffee coupon 连续天数: 3"),
    ("en", "Rewards left Coffee coupon: 0 · Mug: 5", "Rewards won Coffee coupon Days in a row: 3")])
def test_a_streaks_generic_page_names_each_rewards_stock_by_its_row(
        tmp_path: Path, lang: str, stock: str, won: str) -> None:
    """The stock left of each reward is a list made by a `map` over the rewards table: the
    generic page names each number by its reward, as the console does (it read `0, 5`)."""
    catalog = Catalog.discover([HERE / "streak_checkin"], entry_points=False)
    clock = Clock()
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}})
    engine = app.extensions["magic_cube"]
    merchant = create_merchant(engine)
    config = {"rewards": [{"name": "Coffee coupon", "days": 3, "stock": 1},
                          {"name": "Mug", "days": 5, "stock": 5}]}
    aid = engine.create_activity(merchant, "streak_checkin", config)["id"]
    engine.publish(merchant, aid)
    for _day in range(3):
        assert engine.act(aid, "check_in", Participant("alice", "Alice")).ok
        clock.advance(86400)
    token = engine.participant_token(merchant, "alice", "Alice")[0]
    shown = text_of(app.test_client().get(f"/s/{aid}/part?lang={lang}",
                                          headers={"Authorization": f"Bearer {token}"})
                    .get_data(as_text=True))
    assert stock in shown and won in shown, shown


def test_the_consoles_preview_shows_a_ranking_as_the_template_labels_it(tmp_path: Path) -> None:
    """vote's activity view lists records (a ranking: rank, number, name, picture, votes): the
    console's preview shows each by its name, its fields labelled in the merchant's language
    from the template's `view_labels`, and no picture's address."""
    from magic_cube import console

    catalog = Catalog.discover([HERE / "vote"], entry_points=False)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": Clock(),
                      "WTF_CSRF_ENABLED": False,
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}})
    if "console" not in app.blueprints:
        console.init_app(app)
    engine = app.extensions["magic_cube"]
    client = app.test_client()
    r = client.post("/console/signup", data={"name": "Tea", "email": "tea@example.com",
                                             "password": "correct horse"})
    assert r.status_code == 303
    with client.session_transaction() as session:
        merchant_id = session["merchant_id"]
    with engine.store.transaction(write=False) as tx:
        merchant = tx.get_merchant(merchant_id)
    doc = json.loads((HERE / "vote" / "scenarios" / "01_votes_ranking_winner.json").read_text())
    aid = engine.create_activity(merchant, "vote", doc["config"], title="Vote")["id"]
    engine.publish(merchant, aid)
    engine.act(aid, "vote", Participant("alice", "Alice"), params={"entry": 1})
    pages = {lang: text_of(client.get(f"/console/activities/{aid}/preview",
                                      headers={"Accept-Language": lang}).get_data(as_text=True))
             for lang in ("zh", "en")}
    assert "example.com/plum.png" not in pages["zh"] + pages["en"]
    assert ("排行榜 Plum 名次：1 · 编号：1 · 票数：1；"
            "Orchid 名次：2 · 编号：2 · 票数：0") in pages["zh"]
    assert "Ranking Plum Rank: 1 · No.: 1 · Votes: 1; Orchid Rank: 2" in pages["en"]
    assert "作品图片" not in pages["zh"]  # an entry without a picture lists no empty field


def test_the_generic_page_shows_an_entrys_picture_as_a_picture(tmp_path: Path) -> None:
    """vote ships no page.html: an entry's `image` (an image field of the config's table) is
    shown as the picture in the listed records, not as its address, and unlabelled."""
    catalog = Catalog.discover([HERE / "vote"], entry_points=False)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": Clock(),
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}})
    engine = app.extensions["magic_cube"]
    merchant = create_merchant(engine)
    doc = json.loads((HERE / "vote" / "scenarios" / "01_votes_ranking_winner.json").read_text())
    aid = engine.create_activity(merchant, "vote", doc["config"])["id"]
    engine.publish(merchant, aid)
    html = app.test_client().get(f"/s/{aid}/part?lang=zh").get_data(as_text=True)
    pictures = re.findall(r'<img class="mc-thumb" src="([^"]+)"', html)
    assert pictures and set(pictures) == {"https://example.com/plum.png"}
    assert "https://example.com/plum.png" not in text_of(html)  # not as words
    assert "作品图片" not in text_of(html)
