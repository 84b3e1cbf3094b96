"""Roles and what each may do. Every protected endpoint names one :class:`Permission` (see ``deps.require``)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PLAYER = "player"
    RESEARCHER = "researcher"
    DEVELOPER = "developer"
    ADMIN = "admin"


class Permission(StrEnum):
    JOIN_SESSIONS = "join_sessions"  # see sessions, join them, queue for matches
    CREATE_SESSIONS = "create_sessions"
    MANAGE_SESSIONS = "manage_sessions"  # start/end/delete sessions made by anyone
    MANAGE_AGENTS = "manage_agents"
    READ_ANALYTICS = "read_analytics"
    LAUNCH_DATASET_JOBS = "launch_dataset_jobs"
    MANAGE_USERS = "manage_users"


_PLAYER = frozenset({Permission.JOIN_SESSIONS})
_RESEARCHER = _PLAYER | {Permission.READ_ANALYTICS, Permission.LAUNCH_DATASET_JOBS}
_DEVELOPER = _PLAYER | {Permission.CREATE_SESSIONS, Permission.MANAGE_AGENTS, Permission.READ_ANALYTICS}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLAYER: _PLAYER,
    Role.RESEARCHER: frozenset(_RESEARCHER),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.ADMIN: frozenset(Permission),
}


def allowed(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
