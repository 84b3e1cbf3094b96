"""The browser client (web/, built into ``mpgenie/web_static``) at ``/play``, and the two things the page asks the
API for beyond accounts and sessions: ``POST /v1/auth/guest`` (an instant account, in development mode only) and
``GET /v1/world/biomes`` (the biome centres the 3D view colours the ground with: the realtime ``layout`` does not
carry them, and the page must not re-implement NumPy's generator to find them).

Without built assets ``/play`` answers 503 with the command that builds them, instead of a bare 404.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

import mpgenie
from mpgenie.api.deps import Ctx, Db, audit, hash_budget
from mpgenie.api.models import User
from mpgenie.api.permissions import Role
from mpgenie.api.problems import ProblemError, responses
from mpgenie.api.routers.auth import issue_tokens
from mpgenie.api.schemas import TokenPair
from mpgenie.render.renderer import BIOME_COLOURS
from mpgenie.world.config import FIELD_BOUNDS, MAX_SEED, WorldConfig
from mpgenie.world.layout import Biome, generate_layout

WEB_STATIC = Path(mpgenie.__file__).parent / "web_static"
UNUSABLE_HASH = "!guest"  # not an argon2 hash: verifies no password, so a guest account cannot be logged into

router = APIRouter(tags=["play"])


class BiomesOut(BaseModel):
    centers: list[list[float]]  # unit vectors; a point's biome is the nearest centre (index modulo len(names))
    names: list[str]
    colours: list[list[float]]  # RGB 0..1 per name, as the procedural renderer draws them


@router.post("/v1/auth/guest", status_code=201, response_model=TokenPair, responses=responses(403, 429))
async def guest(request: Request, ctx: Ctx, session: Db) -> TokenPair:
    """An account named ``guest-XXXXXXXX`` with no password, signed in at once: development mode only (the
    development secrets in use, which are refused off loopback; or ``MPGENIE_GUEST_ENTRY=true``). Guests are
    developers, so they can also create a session to play in. Counted against the per-address hash budget."""
    if not ctx.settings.guest_entry_enabled():
        raise ProblemError(403, "guest entry is only open in development mode", "forbidden")
    await hash_budget(request, ctx)
    user = User(username=f"guest-{secrets.token_hex(4)}", password_hash=UNUSABLE_HASH, role=Role.DEVELOPER.value)
    session.add(user)
    await session.flush()
    await audit(session, request, "guest", user.id, user.username)
    pair = await issue_tokens(ctx, session, user)
    await session.commit()
    return pair


@router.get("/v1/world/biomes", response_model=BiomesOut, responses=responses(422, 429))
async def biomes(
    seed: Annotated[int, Query(ge=0, le=MAX_SEED)] = 0,
    num_biomes: Annotated[
        int, Query(ge=int(FIELD_BOUNDS["num_biomes"].low), le=int(FIELD_BOUNDS["num_biomes"].high))
    ] = 6,
) -> BiomesOut:
    """The biome centres of a world (they depend on its ``seed`` and ``num_biomes`` alone)."""
    layout = generate_layout(WorldConfig(seed=seed, num_biomes=num_biomes, num_collectibles=0, num_hazards=0))
    return BiomesOut(
        centers=layout.biome_centers.tolist(),
        names=[b.name.lower() for b in Biome],
        colours=BIOME_COLOURS.tolist(),
    )


def mount_page(app: FastAPI) -> None:
    """Serve the built page at ``/play/`` (``/play`` redirects there, so the page's relative asset URLs work)."""

    @app.get("/play", include_in_schema=False)
    async def play_root() -> RedirectResponse:
        return RedirectResponse("/play/")

    if (WEB_STATIC / "index.html").is_file():
        app.mount("/play/", StaticFiles(directory=WEB_STATIC, html=True), name="play")
        return

    @app.get("/play/{path:path}", include_in_schema=False)
    async def not_built(path: str) -> PlainTextResponse:
        return PlainTextResponse(
            "the browser client is not built: run `make web` (npm ci && npm run build in web/)", status_code=503
        )
