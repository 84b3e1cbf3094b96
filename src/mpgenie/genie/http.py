"""The ``http`` world-model backend: a remote service (an external Genie-like model) behind the WorldModel
interface. docs/worldmodel-api.md is the contract; :func:`context_json` and :func:`decode_frame` are its two
encodings (contexts as JSON, frames as base64 raw RGB)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray

from mpgenie.genie.context import PlayerContext

API_VERSION = 1


class WorldModelServiceError(RuntimeError):
    """The remote world model answered with an error or something that is not a frame."""


def encode_frame(frame: NDArray[np.uint8]) -> dict[str, Any]:
    f = np.ascontiguousarray(frame, dtype=np.uint8)
    return {"width": int(f.shape[1]), "height": int(f.shape[0]), "rgb": base64.b64encode(f.tobytes()).decode()}


def decode_frame(obj: Any) -> NDArray[np.uint8]:
    try:
        w, h = int(obj["width"]), int(obj["height"])
        raw = base64.b64decode(obj["rgb"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise WorldModelServiceError(f"not a frame: {exc}") from None
    if not (1 <= w <= 4096 and 1 <= h <= 4096) or len(raw) != w * h * 3:
        raise WorldModelServiceError(f"frame of {len(raw)} bytes is not {w}x{h} RGB")
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).copy()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def context_json(ctx: PlayerContext) -> dict[str, Any]:
    return {
        "version": API_VERSION,
        "tick": ctx.tick,
        "player": ctx.player,
        "own": _plain(ctx.own),
        "frames": [encode_frame(f) for f in ctx.frames],
        "players": [dataclasses.asdict(p) for p in ctx.players],
        "objects": [dataclasses.asdict(o) for o in ctx.objects],
        "events": [_plain(e) for e in ctx.events],
    }


class HttpWorldModel:
    """Calls ``POST {url}/v1/streams`` once per player stream and ``POST {url}/v1/streams/{id}/step`` per tick."""

    def __init__(self, url: str, timeout_s: float = 2.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout_s)
        self.streams: dict[int, str] = {}

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            r = self.client.post(f"{self.url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise WorldModelServiceError(f"world model unreachable: {exc}") from None
        if r.status_code != 200:
            raise WorldModelServiceError(f"world model answered {r.status_code}: {r.text[:200]}")
        try:
            return r.json()
        except ValueError:
            raise WorldModelServiceError("world model answered something that is not JSON") from None

    def start(self, context: PlayerContext) -> None:
        reply = self._post("/v1/streams", {"context": context_json(context)})
        if not isinstance(reply, dict) or not isinstance(reply.get("stream"), str):
            raise WorldModelServiceError("start reply lacks a stream id")
        self.streams[context.player] = reply["stream"]

    def step(self, context: PlayerContext, action: int) -> NDArray[np.uint8]:
        if context.player not in self.streams:
            self.start(context)
        stream = self.streams[context.player]
        reply = self._post(f"/v1/streams/{stream}/step", {"action": int(action), "context": context_json(context)})
        return decode_frame(reply.get("frame") if isinstance(reply, dict) else None)

    def close(self) -> None:
        self.client.close()
