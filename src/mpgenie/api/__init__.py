"""The platform API: accounts, auth, roles, sessions, join tickets, matchmaking, audit (FastAPI under ``/v1``)."""
