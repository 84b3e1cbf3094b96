"""Write an RGB array as a PNG (through PyAV's PNG encoder: no image library needed)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.ascontiguousarray(rgb, dtype=np.uint8)
    with av.open(str(path), "w", format="image2") as c:
        stream = c.add_stream("png")
        stream.width, stream.height = image.shape[1], image.shape[0]
        stream.pix_fmt = "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path
