"""Request and response bodies of the API (pydantic), apart from the ORM tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, create_model

from mpgenie.api.permissions import Role
from mpgenie.world.config import CROSS_FIELD_RULES, FIELD_BOUNDS, INTEGER_FIELDS, WorldConfig

USERNAME = r"^[A-Za-z0-9_.-]{3,32}$"
# Text without NUL: PostgreSQL refuses \x00 in text, so it is refused here, at the edge, on every backend.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
#: Path ids (sessions, users, tickets): what the server makes, and nothing that could upset a database.
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
REGION = r"^[a-z0-9-]{1,32}$"


def _integral(value: object) -> object:
    """``3.0`` is the integer 3 to JSON Schema (``"type": "integer"``), so it is to us; ``"3"`` and ``true`` stay
    refused (strict models)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer in a JSON body: a number with no fraction, written either way.
JsonInt = Annotated[int, BeforeValidator(_integral)]


class Strict(BaseModel):
    """Request bodies take JSON types as they are: no ``true`` for an integer, no ``"3"`` for a number."""

    model_config = ConfigDict(strict=True)


class RegisterIn(Strict):
    username: str = Field(pattern=USERNAME)
    password: Text = Field(min_length=8, max_length=128)


class LoginIn(Strict):
    username: Text = Field(min_length=1, max_length=64)
    password: Text = Field(min_length=1, max_length=128)


class RefreshIn(Strict):
    refresh_token: Text = Field(min_length=1, max_length=256)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    role: Role
    rating: float
    created_at: dt.datetime


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class PasswordChangeIn(Strict):
    old_password: Text = Field(min_length=1, max_length=128)
    new_password: Text = Field(min_length=8, max_length=128)


class RoleChangeIn(Strict):
    role: Role = Field(strict=False)  # enum values arrive as JSON strings


def _world_field(name: str) -> tuple[Any, Any]:
    """One optional override, its range taken from :data:`FIELD_BOUNDS` (so the OpenAPI schema states it)."""
    bound = FIELD_BOUNDS[name]
    limits: dict[str, Any] = {"le": bound.high, ("gt" if bound.low_open else "ge"): bound.low}
    if name in INTEGER_FIELDS:
        return JsonInt | None, Field(None, **{k: int(v) for k, v in limits.items()})
    return float | None, Field(None, allow_inf_nan=False, **limits)


WORLD_RULES = "Cross-field rules, checked by WorldConfig (a 422 problem): " + "; ".join(CROSS_FIELD_RULES) + "."

# Every WorldConfig field, optional, nothing else: the OpenAPI schema then names the keys a session's world may
# override and the range of each. The rules between fields cannot be said in JSON Schema: the field's description
# lists them, and WorldConfig checks them (the schema fuzz test keeps to them when it sends valid data).
WorldOverrides: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "WorldOverrides",
    __config__=ConfigDict(extra="forbid", strict=True, json_schema_extra={"description": WORLD_RULES}),
    **{
        f.name: _world_field(f.name)
        for f in dataclasses.fields(WorldConfig)
        if f.name != "tick_rate"  # one realtime server ticks every session at its own rate
    },
)


def restate_integer_bounds(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put the exact integer bounds back into the OpenAPI document: FastAPI's OpenAPI models hold ``maximum`` as a
    float, and ``float(2**64 - 1)`` is ``2**64``, a seed the schema would then call valid."""
    props = openapi.get("components", {}).get("schemas", {}).get("WorldOverrides", {}).get("properties", {})
    for name, prop in props.items():
        if name not in INTEGER_FIELDS:
            continue
        for option in prop.get("anyOf", [prop]):
            if option.get("type") == "integer":
                bound = FIELD_BOUNDS[name]
                option["maximum"] = int(bound.high)
                option.pop("minimum", None)
                option.pop("exclusiveMinimum", None)
                option["exclusiveMinimum" if bound.low_open else "minimum"] = int(bound.low)
    return openapi


class SessionCreate(Strict):
    name: Text = Field(min_length=1, max_length=64)
    max_players: JsonInt = Field(ge=2, le=5000)
    region: str = Field("local", pattern=REGION)
    world: WorldOverrides = Field(  # type: ignore[valid-type]
        default_factory=WorldOverrides, description="WorldConfig overrides, e.g. {'seed': 3}. " + WORLD_RULES
    )


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    region: str
    max_players: int
    player_count: int
    status: str
    world: dict[str, Any]
    matchmade: bool
    created_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None


class SessionPage(BaseModel):
    items: list[SessionOut]
    total: int
    limit: int
    offset: int


class JoinOut(BaseModel):
    session_id: str
    ticket: str
    realtime_url: str
    expires_at: dt.datetime


class PresenceOut(BaseModel):
    session_id: str
    online: list[str]  # user ids connected to the session's realtime world now


class MatchTicketIn(Strict):
    region: str = Field("local", pattern=REGION)
    party_size: JsonInt = Field(1, ge=1, le=4)


class MatchTicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str
    region: str
    party_size: int
    skill: float
    session_id: str | None
    created_at: dt.datetime
    matched_at: dt.datetime | None


class AnalyticsSummary(BaseModel):
    users: int
    users_by_role: dict[str, int]
    sessions_by_status: dict[str, int]
    match_tickets_by_status: dict[str, int]
    logins_last_24h: int
    failed_logins_last_24h: int


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
