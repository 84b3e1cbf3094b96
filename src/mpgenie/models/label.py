"""``mpgenie label``: pseudo-labels for an unlabelled dataset, written by a trained IDM (VPT's labelling step).

The output is a dataset of its own (docs/dataset-format.md, "Pseudo-labels"): every episode's files are linked (or
copied, across file systems) from the source, and ``data.parquet`` gains two per-agent columns, ``pseudo_action``
(list<int8>, the IDM's most likely action at each frame) and ``pseudo_confidence`` (list<float32>, its softmax
probability). The recorded ``action`` column is kept as the source has it, so that the labels can be scored
against the truth; whatever trains on the pseudo-labels (``mpgenie train bc --labels pseudo``) does not read it.

Atomic like ``generate``: an episode is labelled in ``DIR2/.staging/`` and appears by one rename; a re-run skips
labelled episodes and removes what dead writers left in the staging area.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mpgenie.atomic import write_json_atomic
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.recorder import clear_staging, rebuild_meta
from mpgenie.errors import UsageError
from mpgenie.models.idm_train import check_device, load_idm, predict_views
from mpgenie.models.vpt import episode_indices, load_views

PSEUDO_COLUMNS = {"pseudo_action": "list<item: int8>", "pseudo_confidence": "list<item: float>"}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def label_dataset(
    idm: str | Path,
    data: str | Path,
    out: str | Path,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    device = check_device(device)
    src, root = Path(data), Path(out)
    if src.resolve() == root.resolve():
        raise UsageError("--out must be another directory than --data (the source stays as it is)")
    model, payload = load_idm(idm, device)
    indices = episode_indices(src)
    root.mkdir(parents=True, exist_ok=True)
    clear_staging(root)
    done = [e for e in indices if episode_dir(root, e).exists()]
    agree = total = 0
    if progress is not None:
        progress(len(done), len(indices))
    for count, e in enumerate([e for e in indices if e not in done], start=len(done) + 1):
        views = load_views(src, [e], "none", model.cfg.observers)
        pred, conf = predict_views(model, views, device)
        source = episode_dir(src, e)
        staging = root / ".staging" / f"{source.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        for f in source.iterdir():
            if f.name not in ("data.parquet", "episode.json"):
                _link_or_copy(f, staging / f.name)
        table = pq.read_table(source / "data.parquet")
        t = table.num_rows
        actions = pred[:, :t].T.astype(np.int8)  # (T, A)
        table = table.append_column("pseudo_action", pa.array(actions.tolist(), pa.list_(pa.int8())))
        table = table.append_column("pseudo_confidence", pa.array(conf[:, :t].T.tolist(), pa.list_(pa.float32())))
        if "action" in table.column_names:
            truth = np.array(table.column("action").to_pylist(), dtype=np.int8)
            agree += int((truth == actions).sum())
            total += truth.size
        pq.write_table(table, staging / "data.parquet")
        meta = json.loads((source / "episode.json").read_text())
        meta["labels"] = {"idm": str(Path(idm).resolve()), "source": str(src.resolve())}
        (staging / "episode.json").write_text(json.dumps(meta, sort_keys=True))
        final = episode_dir(root, e)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, final)  # the moment the labelled episode exists
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # labelled by someone else meanwhile: theirs stands
        if progress is not None:
            progress(count, len(indices))
    info = rebuild_meta(root)
    info["features"]["data"].update(PSEUDO_COLUMNS)
    info["labels"] = {"idm": str(Path(idm).resolve()), "source": str(src.resolve()), "idm_config": payload["config"]}
    write_json_atomic(root / "meta" / "info.json", info)
    return {
        "out": str(root),
        "episodes": len(indices),
        "labelled_now": len(indices) - len(done),
        "skipped": len(done),
        # Only for the episodes labelled by this run, and only because our generator records the truth.
        "agreement_with_recorded_actions": round(agree / total, 4) if total else None,
    }
