"""Join tickets: short-lived signed JWTs (HS256) that admit one player to one session of the realtime server.

The platform API issues them (``POST /v1/sessions/{id}/join``), signed with the join secret it shares with the
realtime server (``mpgenie serve --join-secret`` or ``MPGENIE_JOIN_SECRET``; by default a development secret, with
a warning, and refused off loopback). ``mpgenie ticket`` signs one by hand, for tools and tests that go around the
API. The realtime server accepts only a ticket whose signature, expiry, audience and session check out.
"""

from __future__ import annotations

import heapq
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

# Published on purpose (development on loopback); Settings.check_exposure refuses it anywhere else. 39 bytes: long
# enough for HS256 without warnings.
DEV_SECRET = "mpgenie-dev-secret-change-me-0123456789"  # nosec B105
AUDIENCE = "mpgenie-realtime"
DEFAULT_TTL_S = 60.0
# What a ticket's ``sid`` must look like: the platform API's session ids (``mpgenie.api.schemas.Id``) and the
# default ``--session``. A realtime node creates a world per session id, so the id is checked before it names one.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


TICKET_USED = "this join ticket has been used already: ask the API for a new one"


class TicketError(ValueError):
    """The ticket is missing, forged, expired or for another session."""


@dataclass(frozen=True, slots=True)
class Ticket:
    subject: str  # account / player name
    session: str
    expires_at: float
    role: str = "player"
    name: str = ""
    correlation_id: str | None = None
    world: dict[str, object] | None = None  # the session's world-config overrides (set by the API)
    ticket_id: str = ""  # the ``jti``: a ticket admits once (see TicketLedger)
    capacity: int | None = None  # the session's seats (claim ``cap``, set by the API): the realtime side enforces it


def issue_ticket(
    secret: str,
    subject: str,
    session: str = "default",
    ttl_s: float = DEFAULT_TTL_S,
    role: str = "player",
    now: float | None = None,
    extra: dict[str, object] | None = None,
) -> str:
    """A signed ticket; ``extra`` adds claims (the API adds ``name`` and the correlation id ``cid``)."""
    issued = time.time() if now is None else now
    claims = {
        **{k: v for k, v in (extra or {}).items() if v is not None},
        "sub": subject,
        "sid": session,
        "role": role,
        "aud": AUDIENCE,
        "iat": int(issued),
        "exp": int(issued + ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_ticket(secret: str, token: str, session: str | None = "default") -> Ticket:
    """The ticket's claims, or :class:`TicketError` with a reason a user can act on. ``session=None`` accepts a
    ticket for any session (the router uses it to find the session's world)."""
    if not token:
        raise TicketError("a join ticket is required")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "sid", "aud", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise TicketError("join ticket expired") from None
    except jwt.InvalidTokenError as exc:
        raise TicketError(f"invalid join ticket: {exc}") from None
    if not isinstance(claims["sid"], str) or SESSION_ID.fullmatch(claims["sid"]) is None:
        raise TicketError("invalid join ticket: sid must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")
    if session is not None and claims["sid"] != session:
        raise TicketError(f"join ticket is for session {claims['sid']!r}, not {session!r}")
    return Ticket(
        str(claims["sub"]),
        str(claims["sid"]),
        float(claims["exp"]),
        str(claims.get("role", "player")),
        str(claims.get("name", claims["sub"])),
        claims.get("cid"),
        claims["world"] if isinstance(claims.get("world"), dict) else None,
        str(claims["jti"]),
        _capacity(claims.get("cap")),
    )


def _capacity(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if value is None:
        return None
    raise TicketError("invalid join ticket: cap must be a positive integer")


class TicketLedger:
    """The ids of tickets already used, each remembered until its ticket expires: a join ticket admits once.

    Without it a ticket is a bearer token for its whole lifetime: a player who took a ticket, left, and let two
    others take the seats could still walk in, past the session's capacity. Memory is bounded by the tickets
    issued within one ticket lifetime (60 s by default). One ledger serves every session of a realtime node; the
    node is the only place a ticket for its sessions can be used.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # wall-clock seconds, like the tickets' ``exp``
        self._used: set[str] = set()
        self._expiry: list[tuple[float, str]] = []  # (exp, id) heap, for forgetting

    def use(self, ticket: Ticket) -> bool:
        """Mark ``ticket`` used; False when it had been used before."""
        now = self._clock()
        while self._expiry and self._expiry[0][0] < now:
            self._used.discard(heapq.heappop(self._expiry)[1])
        if ticket.ticket_id in self._used:
            return False
        self._used.add(ticket.ticket_id)
        heapq.heappush(self._expiry, (ticket.expires_at, ticket.ticket_id))
        return True

    def seen(self, ticket: Ticket) -> bool:
        """Whether ``ticket`` was used already (without using it)."""
        return ticket.ticket_id in self._used
