"""Passwords (argon2id), access tokens (short-lived HS256 JWTs) and refresh tokens (opaque, stored hashed,
rotated on every use)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mpgenie.api.settings import Settings

ACCESS_AUDIENCE = "mpgenie-api"


class TokenError(ValueError):
    pass


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verifying against this when the account does not exist keeps the timing of "no such user" and "wrong
        # password" alike (no account enumeration by response time).
        self.dummy_hash = self.hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    role: str
    version: int


def issue_access_token(settings: Settings, user_id: str, role: str, version: int, now: dt.datetime) -> str:
    claims = {
        "sub": user_id,
        "role": role,
        "ver": version,
        "aud": ACCESS_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + settings.access_ttl_s,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def read_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=ACCESS_AUDIENCE,
            options={"require": ["exp", "sub", "aud", "ver"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("access token expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid access token: {exc}") from None
    if claims.get("typ") != "access" or not isinstance(claims.get("ver"), int):
        raise TokenError("invalid access token: not an access token")
    return AccessClaims(str(claims["sub"]), str(claims.get("role", "")), int(claims["ver"]))


def new_refresh_token() -> tuple[str, str]:
    """(token to hand out, hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
