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


def read_file(path: str | os.PathLike, *, what: str = "checkpoint",
              advice: str = "delete it or start afresh") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, or a ``ValueError`` naming ``path``
    and what is wrong with it: objects other than tensors and plain values (refused), or a
    file that is truncated, corrupt or not written by ``torch.save`` (``what`` names what it
    should have been, ``advice`` what to do)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, IndexError,
            OSError) as err:
        lines = str(err).strip().splitlines() or [""]
        refused = next((line.strip() for line in lines if "Unsupported global" in line), "")
        if refused:
            raise ValueError(f"{path} holds objects other than tensors and plain values, "
                             f"refused (loaded with weights_only=True): {refused}") from err
        raise ValueError(f"{path} is unreadable: truncated or corrupt, or not saved by "
                         f"torch.save (so not a readable {what}; {type(err).__name__} "
                         f"{lines[0].strip()[:100]}); {advice}") from err


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
    ckpt = read_file(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path} is not a zflib checkpoint (no 'model' entry)")
    check_compatible(ckpt.get("arch", {}), model, str(path))
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    missing, unexpected = model.load_state_dict(state, strict=strict)
    if strict is False and unexpected:
        raise ValueError(f"{path}: unexpected entries {unexpected[:5]}")
    return ckpt
