"""Graceful overload, in virtual time: a server whose ticks take 1.5-3x their budget for 30 s keeps every honest
client connected with no violation at all (timing anomalies are absorbed), tells them its effective rate, refuses
new players while saturated, and still kicks a real flood in the same run."""

from __future__ import annotations

import numpy as np

from mpgenie.net import protocol as p
from mpgenie.world import Action, WorldConfig

from .sim import Link, SimClient, SimNet

OVERLOAD = (5.0, 35.0)  # virtual seconds during which ticks overrun


def walker(client: SimClient, seq: int) -> int:
    return int((Action.FORWARD, Action.FORWARD, Action.TURN_LEFT, Action.FORWARD, Action.RIGHT)[seq % 5])


def errors(client: SimClient) -> list[str]:
    return [m.code for m in client.received if isinstance(m, p.Error)]


def rates(client: SimClient) -> list[float]:
    return [m.hz for m in client.received if isinstance(m, p.Rate)]


def test_an_overloaded_server_degrades_without_kicking_anyone_honest() -> None:
    net = SimNet(WorldConfig(seed=8, radius=60.0), seed=8)
    rng = np.random.default_rng(8)
    budget = net.dt

    def cost(now: float) -> float:  # 1.5-3x the budget while overloaded, a light load otherwise
        return float(rng.uniform(1.5, 3.0)) * budget if OVERLOAD[0] <= now < OVERLOAD[1] else 0.3 * budget

    net.tick_cost = cost
    honest = []
    for k in range(24):
        link = Link(latency_s=0.02 + 0.005 * (k % 5), jitter_s=0.03)
        client = net.connect(f"honest-{k}", up=link, down=Link(latency_s=0.03, jitter_s=0.02), policy=walker)
        client.follow_rate = k % 2 == 0  # half pace to the announced rate (the SDK), half ignore it
        honest.append(client)
    drifting = net.connect("fast-clock", policy=walker, clock_rate=1.05)  # an honest client whose clock runs fast
    drifting.follow_rate = False
    honest.append(drifting)
    net.run(4.0)
    flooder = net.connect("flooder", policy=walker, clock_rate=10.0)  # 200 inputs a second: no honest client
    flooder.follow_rate = False

    net.run(OVERLOAD[0] + 5.0 - net.now)  # well into the overload
    assert net.server.saturated
    assert net.server.pace.rate < 0.7 * net.cfg.tick_rate
    latecomer = net.connect("latecomer", policy=walker)  # admission control: refused clearly while saturated
    net.run(26.0)  # the rest of the 30 s overload
    net.run(6.0)  # and recovery

    for client in honest:
        assert client.peer is not None and not client.peer.closed, f"{client.state.welcome} was dropped"
        assert errors(client) == [], errors(client)  # no violation, no error frame, nothing
        assert client.state.welcome is not None and client.state.snapshot is not None
    assert "kicked" in errors(flooder) and flooder.peer is not None and flooder.peer.closed
    assert errors(latecomer) == ["server_full"]
    refused = net.server.metrics.value("mpgenie_rejected_inputs_total", reason="rate_limit")
    assert refused > 0  # all of them the flooder's: the honest clients got no error at all
    assert net.server.metrics.value("mpgenie_inputs_absorbed_total", reason="late") > 0  # surplus dropped silently

    paced = honest[0]
    announced = rates(paced)
    assert min(announced) < 0.7 * net.cfg.tick_rate  # told to slow down...
    assert announced[-1] == net.cfg.tick_rate  # ...and that it recovered
    assert not net.server.saturated
    again = net.connect("after-recovery", policy=walker)
    net.run(1.0)
    assert errors(again) == [] and again.state.welcome is not None


def test_pacing_to_the_announced_rate_spares_the_inputs() -> None:
    """A client that follows the Rate message loses (almost) no inputs to the surplus rule; one that keeps the
    nominal rate loses about half of them at half the rate, and is still never refused."""
    net = SimNet(WorldConfig(seed=9), seed=9)
    net.tick_cost = lambda now: 2.0 * net.dt if now >= 2.0 else 0.0
    paced = net.connect("paced", policy=walker)
    stubborn = net.connect("stubborn", policy=walker)
    stubborn.follow_rate = False
    net.run(3.0)
    seq_paced, seq_stubborn = paced.state.seq, stubborn.state.seq
    ack_paced, ack_stubborn = paced.state.ack_seq, stubborn.state.ack_seq
    net.run(10.0)
    sent_paced, sent_stubborn = paced.state.seq - seq_paced, stubborn.state.seq - seq_stubborn
    assert sent_stubborn > 1.6 * sent_paced  # the stubborn one kept sending at 20 Hz
    assert not errors(paced) and not errors(stubborn)
    assert paced.state.ack_seq - ack_paced >= sent_paced - 3  # nearly every paced input was applied
    assert stubborn.state.ack_seq - ack_stubborn >= sent_stubborn - 3  # acks jump over the dropped ones
