"""What the browser client asks the API for besides accounts and sessions: guest entry (development mode only),
the biome centres of a world, and the page itself at /play/ (or a 503 that says how to build it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpgenie.api.routers import play
from mpgenie.net.tickets import DEV_SECRET
from mpgenie.world.config import WorldConfig
from mpgenie.world.layout import generate_layout

from .conftest import make_settings, running_api
from .test_auth import assert_problem, audit_events

pytestmark = pytest.mark.anyio


async def test_guest_entry_in_development_mode(tmp_path: Path) -> None:
    async with running_api(make_settings(f"sqlite+aiosqlite:///{tmp_path}/g.db")) as api:
        assert api.ctx.settings.join_secret == DEV_SECRET  # development mode: guests may enter
        r = await api.client.post("/v1/auth/guest")
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = (await api.client.get("/v1/users/me", headers=headers)).json()
        assert me["username"].startswith("guest-") and me["role"] == "developer"
        # a guest can make a session and take a seat in it, as the page does
        sid = (await api.client.post("/v1/sessions", headers=headers, json={"name": "g", "max_players": 2})).json()
        join = await api.client.post(f"/v1/sessions/{sid['id']}/join", headers=headers)
        assert join.status_code == 200 and join.json()["ticket"]
        # no password opens a guest account
        for password in ("", "!guest", "guest-password"):
            r = await api.client.post("/v1/auth/login", json={"username": me["username"], "password": password})
            assert r.status_code in (401, 422)
        second = (await api.client.post("/v1/auth/guest")).json()
        me2 = await api.client.get("/v1/users/me", headers={"Authorization": f"Bearer {second['access_token']}"})
        assert me2.json()["username"] != me["username"]
        assert (await audit_events(api)).count("guest") == 2


REAL_SECRETS = {"join_secret": "a-real-join-secret-" + "x" * 30, "jwt_secret": "a-real-jwt-secret-" + "y" * 30}


@pytest.mark.parametrize("overrides", [REAL_SECRETS, {"guest_entry": False}])
async def test_guest_entry_closed_outside_development_mode(tmp_path: Path, overrides: dict[str, object]) -> None:
    async with running_api(make_settings(f"sqlite+aiosqlite:///{tmp_path}/g.db", **overrides)) as api:
        body = assert_problem(await api.client.post("/v1/auth/guest"), 403)
        assert "development mode" in body["detail"]


async def test_guest_entry_counts_against_the_hash_budget(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/g.db", hash_attempts_per_minute=2)
    async with running_api(settings) as api:
        assert [(await api.client.post("/v1/auth/guest")).status_code for _ in range(3)] == [201, 201, 429]


async def test_biomes_are_the_worlds(tmp_path: Path) -> None:
    async with running_api(make_settings(f"sqlite+aiosqlite:///{tmp_path}/b.db")) as api:
        body = (await api.client.get("/v1/world/biomes", params={"seed": 9, "num_biomes": 5})).json()
        want = generate_layout(WorldConfig(seed=9, num_biomes=5)).biome_centers
        np.testing.assert_array_equal(np.array(body["centers"]), want)
        assert body["names"][0] == "snowfield" and len(body["colours"]) == len(body["names"])
        assert_problem(await api.client.get("/v1/world/biomes", params={"num_biomes": 0}), 422)


async def test_page_not_built_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(play, "WEB_STATIC", tmp_path / "missing")
    async with running_api(make_settings(f"sqlite+aiosqlite:///{tmp_path}/p.db")) as api:
        r = await api.client.get("/play")
        assert r.status_code == 307 and r.headers["location"] == "/play/"
        r = await api.client.get("/play/")
        assert r.status_code == 503 and "make web" in r.text


async def test_page_served_from_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = tmp_path / "web_static"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<title>snowball</title>")
    (built / "assets" / "app.js").write_text("console.log(1)")
    monkeypatch.setattr(play, "WEB_STATIC", built)
    async with running_api(make_settings(f"sqlite+aiosqlite:///{tmp_path}/p.db")) as api:
        assert "snowball" in (await api.client.get("/play/")).text
        assert (await api.client.get("/play/assets/app.js")).text == "console.log(1)"
        assert (await api.client.get("/play/nope.js")).status_code == 404
