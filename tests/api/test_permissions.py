"""Every protected endpoint refuses missing, expired and forged tokens, and roles without the permission."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from mpgenie.api.permissions import ROLE_PERMISSIONS, Permission, Role
from mpgenie.api.security import issue_access_token

from .conftest import Api

pytestmark = pytest.mark.anyio

# (method, path, permission) of every endpoint that needs a token. The test below checks this table is complete.
PROTECTED = [
    ("GET", "/v1/users/me", None),
    ("POST", "/v1/users/me/password", None),
    ("GET", "/v1/users", Permission.MANAGE_USERS),
    ("PATCH", "/v1/users/{user_id}/role", Permission.MANAGE_USERS),
    ("POST", "/v1/sessions", Permission.CREATE_SESSIONS),
    ("GET", "/v1/sessions", Permission.JOIN_SESSIONS),
    ("GET", "/v1/sessions/{session_id}", Permission.JOIN_SESSIONS),
    ("POST", "/v1/sessions/{session_id}/start", Permission.CREATE_SESSIONS),
    ("POST", "/v1/sessions/{session_id}/end", Permission.CREATE_SESSIONS),
    ("DELETE", "/v1/sessions/{session_id}", Permission.CREATE_SESSIONS),
    ("POST", "/v1/sessions/{session_id}/join", Permission.JOIN_SESSIONS),
    ("GET", "/v1/sessions/{session_id}/presence", Permission.JOIN_SESSIONS),
    ("POST", "/v1/sessions/{session_id}/leave", Permission.JOIN_SESSIONS),
    ("POST", "/v1/matchmaking/tickets", Permission.JOIN_SESSIONS),
    ("GET", "/v1/matchmaking/tickets/{ticket_id}", Permission.JOIN_SESSIONS),
    ("DELETE", "/v1/matchmaking/tickets/{ticket_id}", Permission.JOIN_SESSIONS),
    ("GET", "/v1/analytics/summary", Permission.READ_ANALYTICS),
]
PUBLIC = {
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/guest"),  # development mode only (tests/api/test_play.py: 403 otherwise)
    ("GET", "/v1/world/biomes"),  # derived from a world config anyone may send; rate-limited per address
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}


def concrete(path: str) -> str:
    return path.replace("{user_id}", "x").replace("{session_id}", "x").replace("{ticket_id}", "x")


async def test_the_table_covers_every_route(api: Api) -> None:
    paths = api.app.openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert routes == {(m, p) for m, p, _ in PROTECTED} | PUBLIC


@pytest.mark.parametrize(("method", "path", "permission"), PROTECTED)
async def test_bad_tokens_are_refused(api: Api, method: str, path: str, permission: Permission | None) -> None:
    s = api.ctx.settings
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=s.access_ttl_s + 60)
    me = await api.client.post("/v1/auth/register", json={"username": "victim", "password": "password-123"})
    uid = me.json()["id"]
    expired = issue_access_token(s, uid, "admin", 0, long_ago)
    forged = jwt.encode(
        {"sub": uid, "role": "admin", "ver": 0, "aud": "mpgenie-api", "typ": "access", "exp": 2**31},
        "not-the-secret-but-long-enough-0123456789",
        algorithm="HS256",
    )
    unsigned = jwt.encode({"sub": uid, "role": "admin", "ver": 0}, None, algorithm="none")
    for headers in (
        {},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {unsigned}"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        r = await api.client.request(method, concrete(path), headers=headers, json={})
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", list(Role))
async def test_roles_without_the_permission_get_403(api: Api, role: Role) -> None:
    headers = await api.user(f"user-{role.value}", role=role.value)
    for method, path, permission in PROTECTED:
        if permission is None:
            continue
        r = await api.client.request(method, concrete(path), headers=headers, json={})
        if permission in ROLE_PERMISSIONS[role]:
            assert r.status_code != 403, (role, method, path)
        else:
            assert r.status_code == 403, (role, method, path, r.text)
            assert permission.value in r.json()["detail"]
