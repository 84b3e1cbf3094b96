"""All settings of the platform API in one class: environment variables ``MPGENIE_*`` (and CLI flags that set
them). Embedded defaults run on one machine with nothing installed: a SQLite file and in-memory rate limits."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mpgenie.errors import UsageError
from mpgenie.net.tickets import DEV_SECRET

# bandit B105: published on purpose; refused off loopback
DEV_JWT_SECRET = "mpgenie-dev-jwt-secret-change-me-0123456789"  # nosec B105
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class InsecureSettingsError(UsageError):
    """Development secrets on an address other hosts can reach."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MPGENIE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///mpgenie.db"
    database_schema: str | None = None  # PostgreSQL: keep every table in this schema (must exist)
    redis_url: str | None = None
    redis_prefix: str = "mpgenie"
    jwt_secret: str = DEV_JWT_SECRET
    join_secret: str = DEV_SECRET
    realtime_url: str = "ws://127.0.0.1:7777/ws"  # the join tickets' server, unless sessions are placed on nodes
    # Place sessions on the realtime nodes registered in Redis (mpgenie.net.registry) instead of realtime_url, and
    # fail them over when a node dies. `mpgenie serve` turns it on for an API with Redis and no realtime server of
    # its own (--no-realtime), or one whose realtime server is a node (--node-url).
    node_placement: bool = False

    access_ttl_s: int = Field(900, ge=10)
    refresh_ttl_s: int = Field(30 * 24 * 3600, ge=60)
    join_ticket_ttl_s: int = Field(60, ge=5)

    lockout_failures: int = Field(5, ge=1)
    lockout_window_s: int = Field(900, ge=1)
    lockout_s: int = Field(900, ge=1)
    rate_limit_per_minute: int = Field(1200, ge=1)  # per client address, all endpoints
    login_attempts_per_minute: int = Field(20, ge=1)  # per account name
    account_rate_limit_per_minute: int = Field(1200, ge=1)  # per signed-in account, all endpoints
    # Per client address, every request that hashes a password (login, register, password change): argon2id
    # manages ~35 hashes/s on 2 cores, far below the general limit, so one address must not get them all.
    hash_attempts_per_minute: int = Field(30, ge=1)
    hash_workers: int = Field(1, ge=1, le=64)  # threads that hash passwords (never all cores: the tick loop needs one)
    hash_queue: int = Field(64, ge=1)  # hashes waiting or running before new ones answer 503

    # Proxies whose X-Forwarded-For is believed (IPs or CIDRs; MPGENIE_TRUSTED_PROXIES="10.0.0.0/8,127.0.0.1").
    # Empty: the connection's peer is the client, whatever headers say.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(64 * 1024, ge=1024)  # request bodies, refused (413) before they are parsed

    max_active_sessions: int = Field(100, ge=1)  # not yet completed sessions on this node (API + matchmaking)
    max_open_sessions_per_account: int = Field(3, ge=1)  # created, or matched into, and not yet completed

    # argon2id cost: OWASP's minimum (19 MiB, 2 passes). Raise for stronger hashing at fewer logins per second.
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19_456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)

    match_size: int = Field(4, ge=2)
    match_skill_window: float = Field(100.0, ge=0)
    match_window_growth_per_s: float = Field(50.0, ge=0)

    # POST /v1/auth/guest (the browser client's "play as guest"): None = in development mode, i.e. while the
    # development secrets are in use (check_exposure refuses them off loopback); true/false decides outright.
    guest_entry: bool | None = None
    bootstrap_admin: str | None = None  # "name:password": created (as admin) at start-up when missing
    log_json: bool = True
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        """Accept a comma-separated string (the environment variable) as well as a list; refuse a typo at start-up
        rather than silently trusting nobody."""
        items = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        if isinstance(items, list):
            for item in items:
                ipaddress.ip_network(str(item), strict=False)  # ValueError: pydantic names the setting
            return [str(i) for i in items if str(i)]
        return items

    def dev_secrets_in_use(self, api: bool) -> bool:
        """Whether a published development secret signs anything this process serves: the join secret always
        (the realtime server verifies tickets with it), the JWT secret only when the API runs here."""
        return self.join_secret == DEV_SECRET or (api and self.jwt_secret == DEV_JWT_SECRET)

    def guest_entry_enabled(self) -> bool:
        return self.dev_secrets_in_use(api=True) if self.guest_entry is None else self.guest_entry

    def check_exposure(self, host: str, api: bool) -> None:
        """Refuse to listen beyond loopback with a development secret: anyone who read our source could forge
        join tickets or access tokens. On loopback they are fine (and the embedded default)."""
        if host not in LOOPBACK_HOSTS and self.dev_secrets_in_use(api):
            raise InsecureSettingsError(
                f"refusing to listen on {host} with the development secrets: set MPGENIE_JOIN_SECRET and "
                "MPGENIE_JWT_SECRET (or --join-secret / --jwt-secret)"
            )
