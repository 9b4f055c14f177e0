"""The app's own Flask: what it remembers about the functions it dispatches to."""

from __future__ import annotations


class Hooks:
    def sync(self) -> str:
        return "sync"

    async def asynchronous(self) -> str:
        return "async"


def test_a_sync_method_is_dispatched_as_itself_and_its_function_remembered(app):
    hooks = Hooks()
    bound = hooks.sync
    assert app.ensure_sync(bound) is bound
    assert app._sync[Hooks.sync] is Hooks.sync
    fresh = Hooks().sync  # another instance's method, as a view's is on every request
    assert app.ensure_sync(fresh) is fresh


def test_an_async_method_is_still_wrapped(app):
    bound = Hooks().asynchronous
    try:
        wrapped = app.ensure_sync(bound)
    except RuntimeError as exc:  # Flask's async support needs the optional asgiref
        assert "async" in str(exc)
    else:
        assert wrapped is not bound


def test_hooks_and_views_that_are_methods_still_run(client, shop):
    # The rate limiter's hooks and the API's class-based views are bound methods.
    activity = shop.live("lottery")["id"]
    auth = {"Authorization": f"Bearer {shop.token('p1')}"}
    r = client.get(f"/v1/activities/{activity}", headers=auth)
    assert r.status_code == 200 and r.headers["X-RateLimit-Limit"]
    r = client.post(f"/v1/activities/{activity}/actions/draw", json={}, headers=auth)
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"]
