"""Seats hold across the API and the realtime server: a join ticket admits once, and a session's capacity is
enforced by the realtime server whatever tickets say (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from mpgenie.net.client import GameClient
from mpgenie.net.server import RealtimeServer

from .conftest import Api

pytestmark = pytest.mark.anyio


async def test_three_tickets_for_two_seats_admit_two_players(api: Api) -> None:
    server = RealtimeServer(port=0)
    await server.start()
    clients: list[GameClient] = []
    try:
        dev = await api.user("dev", role="developer")
        p1, p2, p3 = (await api.user("pp1"), await api.user("pp2"), await api.user("pp3"))
        created = await api.client.post("/v1/sessions", headers=dev, json={"name": "duel", "max_players": 2})
        sid = created.json()["id"]
        tickets = [(await api.client.post(f"/v1/sessions/{sid}/join", headers=p1)).json()["ticket"]]
        assert (await api.client.post(f"/v1/sessions/{sid}/leave", headers=p1)).status_code == 204
        for headers in (p2, p3):
            join = await api.client.post(f"/v1/sessions/{sid}/join", headers=headers)
            assert join.status_code == 200, join.text
            tickets.append(join.json()["ticket"])

        outcomes = []
        for ticket in (tickets[1], tickets[2], tickets[0]):  # the seated players first, then p1's old ticket
            client = GameClient(server.url, ticket)
            clients.append(client)
            try:
                await client.connect(timeout=5.0)
                outcomes.append("joined")
            except ConnectionError:
                outcomes.append(client.state.errors[-1].code)
        assert outcomes == ["joined", "joined", "server_full"]
        assert len(server.router.cores[sid].by_player) == 2

        # A used ticket opens nothing again, even for its own account after leaving.
        await clients[0].close(leave=True)
        again = GameClient(server.url, tickets[1])
        clients.append(again)
        with pytest.raises(ConnectionError, match="used already"):
            await again.connect(timeout=5.0)
    finally:
        for client in clients:
            await client.close()
        await server.stop()
