"""All settings of the platform API in one class: environment variables ``MPGENIE_*`` (and CLI flags that set
them). Embedded defaults run on one machine with nothing installed: a SQLite file and in-memory rate limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mpgenie.errors import UsageError
from mpgenie.net.tickets import DEV_SECRET

DEV_JWT_SECRET = "mpgenie-dev-jwt-secret-change-me-0123456789"
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
    realtime_url: str = "ws://127.0.0.1:7777/ws"

    access_ttl_s: int = Field(900, ge=10)
    refresh_ttl_s: int = Field(30 * 24 * 3600, ge=60)
    join_ticket_ttl_s: int = Field(60, ge=5)

    lockout_failures: int = Field(5, ge=1)
    lockout_window_s: int = Field(900, ge=1)
    lockout_s: int = Field(900, ge=1)
    rate_limit_per_minute: int = Field(1200, ge=1)  # per client address, all endpoints
    login_attempts_per_minute: int = Field(20, ge=1)  # per account name
    account_rate_limit_per_minute: int = Field(1200, ge=1)  # per signed-in account, all endpoints

    # argon2id cost: OWASP's minimum (19 MiB, 2 passes). Raise for stronger hashing at fewer logins per second.
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19_456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)

    match_size: int = Field(4, ge=2)
    match_skill_window: float = Field(100.0, ge=0)
    match_window_growth_per_s: float = Field(50.0, ge=0)

    bootstrap_admin: str | None = None  # "name:password": created (as admin) at start-up when missing
    log_json: bool = True
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    @property
    def uses_dev_secrets(self) -> bool:
        return self.jwt_secret == DEV_JWT_SECRET or self.join_secret == DEV_SECRET

    def dev_secrets_in_use(self, api: bool) -> bool:
        """Whether a published development secret signs anything this process serves: the join secret always
        (the realtime server verifies tickets with it), the JWT secret only when the API runs here."""
        return self.join_secret == DEV_SECRET or (api and self.jwt_secret == DEV_JWT_SECRET)

    def check_exposure(self, host: str, api: bool) -> None:
        """Refuse to listen beyond loopback with a development secret: anyone who read our source could forge
        join tickets or access tokens. On loopback they are fine (and the embedded default)."""
        if host not in LOOPBACK_HOSTS and self.dev_secrets_in_use(api):
            raise InsecureSettingsError(
                f"refusing to listen on {host} with the development secrets: set MPGENIE_JOIN_SECRET and "
                "MPGENIE_JWT_SECRET (or --join-secret / --jwt-secret)"
            )
