"""Passwords (argon2id), access tokens (short-lived HS256 JWTs) and refresh tokens (opaque, stored hashed,
rotated on every use)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mpgenie.api.settings import Settings

ACCESS_AUDIENCE = "mpgenie-api"
T = TypeVar("T")


class TokenError(ValueError):
    pass


class HashingBusyError(RuntimeError):
    """More password hashes are queued than ``hash_queue`` allows: answer 503 rather than queue without end."""


class Passwords:
    """argon2id hashing. The ``*_async`` methods run in this object's own small thread pool (``hash_workers``
    threads; argon2-cffi releases the GIL): never on the event loop, which the realtime server's tick loop
    shares, and never in asyncio's default pool, whose many workers could take every core from the tick loop."""

    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verifying against this when the account does not exist keeps the timing of "no such user" and "wrong
        # password" alike (no account enumeration by response time).
        self.dummy_hash = self.hasher.hash(secrets.token_hex(16))
        self.executor = ThreadPoolExecutor(settings.hash_workers, thread_name_prefix="mpgenie-hash")
        self.queue_limit = settings.hash_queue
        self.pending = 0

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self.pending >= self.queue_limit:
            raise HashingBusyError(f"{self.pending} password hashes pending")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.pending -= 1

    async def hash_async(self, password: str) -> str:
        return await self._run(self.hash, password)

    async def verify_async(self, stored: str, password: str) -> bool:
        return await self._run(self.verify, stored, password)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

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
