"""The http backend against a stand-in world-model service on a loopback port (a real HTTP server)."""

import socket
import threading
import time

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException

from mpgenie.genie.context import ContextAssembler
from mpgenie.genie.http import HttpWorldModel, WorldModelServiceError, decode_frame, encode_frame
from mpgenie.world import World, WorldConfig


def stand_in() -> FastAPI:
    """A toy world model: the next frame is the last context frame, brightened by the action number."""
    app = FastAPI()
    streams: dict[str, int] = {}

    @app.post("/v1/streams")
    def start(body: dict) -> dict:
        sid = f"s{len(streams)}"
        streams[sid] = body["context"]["player"]
        return {"stream": sid}

    @app.post("/v1/streams/{sid}/step")
    def step(sid: str, body: dict) -> dict:
        if sid not in streams:
            raise HTTPException(404, "no such stream")
        ctx = body["context"]
        last = decode_frame(ctx["frames"][-1]) if ctx["frames"] else np.zeros((8, 8, 3), np.uint8)
        if body["action"] == 9:
            return {"frame": {"width": 8, "height": 8, "rgb": "not base64!"}}
        return {"frame": encode_frame(np.clip(last.astype(int) + body["action"], 0, 255).astype(np.uint8))}

    return app


@pytest.fixture(scope="module")
def service() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(stand_in(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def test_frames_come_through_the_service(service: str) -> None:
    world = World(WorldConfig(seed=1, radius=40.0, num_landmarks=8))
    world.add_players(2)
    world.step()
    ctx = ContextAssembler(world).assemble(0, [np.full((8, 8, 3), 10, np.uint8)])
    model = HttpWorldModel(service)
    model.start(ctx)
    frame = model.step(ctx, 3)
    assert frame.shape == (8, 8, 3) and int(frame[0, 0, 0]) == 13
    with pytest.raises(WorldModelServiceError, match="not a frame"):
        model.step(ctx, 9)
    model.streams[0] = "unknown"
    with pytest.raises(WorldModelServiceError, match="404"):
        model.step(ctx, 1)
    model.close()
    dead = HttpWorldModel("http://127.0.0.1:1", timeout_s=0.5)
    with pytest.raises(WorldModelServiceError, match="unreachable"):
        dead.step(ctx, 1)
