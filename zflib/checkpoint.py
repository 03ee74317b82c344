"""Checkpoints: written atomically, loaded with ``weights_only=True``, refused when they belong
to another architecture or class count."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a run killed mid-write
    leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def check_compatible(saved: dict, model: nn.Module, source: str) -> None:
    """Raise ``ValueError`` if the checkpoint's architecture differs from ``model``'s."""
    want = model.describe() if hasattr(model, "describe") else {}
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, model {v!r}" for k, v in want.items()
             if saved.get(k) != v]
    if diffs:
        raise ValueError(f"checkpoint {source} does not fit this model ({'; '.join(diffs)})")


def load_state(path: str | os.PathLike, model: nn.Module, *, strict: bool = True) -> dict:
    """Load ``path`` (weights only) into ``model`` after checking the architecture; return the
    whole checkpoint dict."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError,
            IndexError) as err:
        lines = str(err).splitlines() or [""]
        reason = next((line.strip() for line in lines if "Unsupported" in line), lines[0])
        if "Unsupported global" in reason:
            raise ValueError(f"{path} holds objects other than tensors and plain values, "
                             f"refused (loaded with weights_only=True): {reason}") from err
        reason = reason[:100]
        raise ValueError(f"{path} is not a readable checkpoint, truncated or corrupt "
                         f"({type(err).__name__} {reason}".strip() + "); delete it or start "
                         "afresh") from err
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path} is not a zflib checkpoint (no 'model' entry)")
    check_compatible(ckpt.get("arch", {}), model, str(path))
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    missing, unexpected = model.load_state_dict(state, strict=strict)
    if strict is False and unexpected:
        raise ValueError(f"{path}: unexpected entries {unexpected[:5]}")
    return ckpt
