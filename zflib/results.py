"""Results of notebooks as JSON: what ``RESULTS.md`` is generated from.

Each notebook that produces a table or a number saves it with :func:`save_results` into its
``results_dir`` (``build/results`` by default); ``python -m zflib.paper.record`` reads them back.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def save_results(data: Any, name: str, results_dir: str | os.PathLike, *,
                 profile: str) -> Path:
    """Write ``{"profile", "date", "data"}`` to ``results_dir/<name>.json`` (atomically)."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = folder / f".{name}.json.tmp"
    tmp.write_text(json.dumps({"profile": profile, "date": time.strftime("%Y-%m-%d %H:%M"),
                               "data": data}, indent=1, default=_json_default))
    os.replace(tmp, path)
    return path


def _json_default(obj: Any) -> Any:
    """numpy scalars, tuples and sets as JSON; tensors of one value as numbers."""
    if hasattr(obj, "item") and getattr(obj, "size", 1) in (1, ()):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def load_saved(name: str, results_dir: str | os.PathLike) -> dict:
    """What :func:`save_results` wrote for ``name``."""
    path = Path(results_dir) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results {name!r} in {results_dir}; run its notebook first")
    return json.loads(path.read_text())
