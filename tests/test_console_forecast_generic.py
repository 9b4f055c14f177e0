# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The Forecast tab of an activity whose template no kind's model fits (kind `other`): the
generic model's steps, named for what they are, and a forecast of them."""

from __future__ import annotations

import pytest
from template_factory import minimal_template, write_template
from test_console import signed_in, text_of, web, web_app  # noqa: F401  (fixtures)

from magic_cube.catalog import Catalog


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("templates")
    write_template(root, minimal_template(id="teams", kind="other"))
    return Catalog.discover([root], entry_points=False)


@pytest.fixture
def activity_id(signed_in) -> str:
    activity = signed_in.engine.create_activity(signed_in.merchant, "teams", {"team_size": 2})
    return activity["id"]


def test_the_tab_asks_for_the_generic_steps_in_the_merchant_s_language(signed_in, activity_id):
    url = f"/console/activities/{activity_id}/forecast"
    en = text_of(signed_in.get(url + "?lang=en").get_data(as_text=True))
    assert "Once more" in en and "Chance a participant takes the first step once more" in en
    assert "Draw again" not in en and "cannot be forecast" not in en
    zh = text_of(signed_in.get(url + "?lang=zh").get_data(as_text=True))
    assert "再来一次" in zh and "再抽一次" not in zh
    r = signed_in.post(url + "?lang=en", data={
        "runs": "2", "visitors_per_day": "10", "days": "2", "conversion_act": "100",
        "conversion_share": "0"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    # Everyone opens a team; nobody shares, so none fills: 20 participations in each run.
    assert '<th scope="row">Participations</th><td class="num">20</td>' in html.replace("\n", "")
