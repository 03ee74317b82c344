"""The figures' long passes, kept on disk so that a rerun of ``make figures`` redraws from them.

``cached(fn, *args, **kwargs)`` returns ``fn(*args, **kwargs)``, read from
``$ZF_HOME/cache/memo/<fn>-<key>.pt`` when that exact call ran before, else computed and stored
there whole (a temporary file renamed into place: a killed run leaves no torn entry; an
unreadable entry is computed again and rewritten). The key hashes:

- the function (module and name) and the source of its module and of every ``zflib`` module
  that one imports, directly or through others (:func:`code_digest`), so an edited algorithm
  never meets its old results, while an edit elsewhere (a plot, another figure's pass) keeps
  them;
- every argument by value: tensors and arrays by dtype, shape, device type and bytes, modules
  by their class and ``state_dict``, dataclasses field by field, containers element by element,
  numbers and strings as themselves. Anything else (a function, an open file) is refused with
  a ``TypeError`` naming it, rather than keyed by an identity that would differ per run.

Which passes go through it is the notebooks' choice: the occlusion, invariance,
correspondence and projection passes of Figs. 2 and 5-8 at 224 pixels (issue 23's budget: a
rerun with caches within 5 minutes on 2 CPU cores). Deleting ``$ZF_HOME/cache/memo`` costs only
the recomputation.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import logging
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from zflib.data.common import cache_dir, cache_key, tensor_digest

log = logging.getLogger(__name__)
T = TypeVar("T")

PACKAGE = Path(__file__).resolve().parent


_DIGESTS: dict[int, tuple[weakref.ref, int, str]] = {}  # id -> (tensor, version, digest)


def _digest(t: torch.Tensor) -> str:
    """:func:`tensor_digest` of ``t``, hashed once per tensor object and version: a notebook
    passes the same 1 GB of inputs to several cached passes. An in-place change through
    PyTorch bumps ``t._version`` and is hashed again."""
    hit = _DIGESTS.get(id(t))
    if hit is not None and hit[0]() is t and hit[1] == t._version:
        return hit[2]
    digest = tensor_digest(t)
    for key in [k for k, v in _DIGESTS.items() if v[0]() is None]:
        del _DIGESTS[key]  # tensors gone (their ids may come back for others)
    _DIGESTS[id(t)] = (weakref.ref(t), t._version, digest)
    return digest


def memo_dir() -> Path:
    """``$ZF_HOME/cache/memo``: where :func:`cached` keeps its entries."""
    return cache_dir() / "memo"


def _module_file(name: str) -> Path | None:
    """The source file of ``zflib`` module ``name`` (``zflib.data`` -> its ``__init__.py``)."""
    parts = name.split(".")[1:]
    if not parts:
        return None
    base = PACKAGE.joinpath(*parts)
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def _imports(name: str, path: Path, source: bytes) -> set[str]:
    """The ``zflib`` modules that ``source`` (module ``name``, read from ``path``) imports
    anywhere in its body: a package's ``__init__`` comes with each of its submodules, as
    Python runs it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # submodules imported by name
    out = set()
    for mod in found:
        parts = mod.split(".")
        out |= {".".join(parts[:i]) for i in range(2, len(parts) + 1) if parts[0] == "zflib"}
    return {m for m in out if _module_file(m)}


@functools.cache
def code_digest(module: str) -> str:
    """A hash of the source of ``zflib`` module ``module`` and of every ``zflib`` module it
    imports, directly or through others (read from the files, not from ``sys.modules``)."""
    todo, sources = [module], {}
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in sources or path is None:
            continue
        sources[name] = path.read_bytes()  # read once: parsed here, hashed below
        todo += sorted(_imports(name, path, sources[name]) - sources.keys())
    h = hashlib.sha1()
    for name in sorted(sources):
        h.update(name.encode())
        h.update(sources[name])
    return h.hexdigest()[:16]


def describe(value: Any, where: str = "argument") -> Any:
    """A JSON-able description of ``value`` that differs whenever its content does (for
    :func:`zflib.data.common.cache_key`); ``TypeError`` for values with no stable content."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return ["tensor", value.device.type, _digest(value)]
    if isinstance(value, np.ndarray):
        return ["array", tensor_digest(torch.from_numpy(np.ascontiguousarray(value)))]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, nn.Module):
        state = value.state_dict()
        return ["module", type(value).__qualname__, list(state),
                tensor_digest(*state.values()) if state else ""]
    if isinstance(value, torch.device):
        return ["device", str(value)]
    if isinstance(value, os.PathLike):
        return ["path", os.fspath(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__qualname__,
                {f.name: describe(getattr(value, f.name), f"{where}.{f.name}")
                 for f in dataclasses.fields(value)}]
    if isinstance(value, dict):
        return ["dict", [[describe(k, where), describe(v, f"{where}[{k!r}]")]
                         for k, v in value.items()]]
    if isinstance(value, (list, tuple, range)):
        return [type(value).__name__, [describe(v, f"{where}[{i}]") for i, v in enumerate(value)]]
    raise TypeError(f"{where} is of type {type(value).__qualname__}, which zflib.memo cannot "
                    "key by content; valid: tensors, arrays, modules, dataclasses, containers, "
                    "numbers, strings, paths")


def key_of(fn: Callable[..., Any], args: tuple, kwargs: dict) -> str:
    """The cache key of the call ``fn(*args, **kwargs)`` (see the module's docstring)."""
    return cache_key(fn.__module__, fn.__qualname__, code_digest(fn.__module__),
                     describe(list(args), "args"), describe(dict(sorted(kwargs.items())), "kwargs"))


def cached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, from ``$ZF_HOME/cache/memo`` when this exact call ran before
    (with this package's code), else computed and stored there.

    The entry is a ``torch.save`` pickle written by this package into the user's own cache;
    it is read back with ``weights_only=False`` (results are dataclasses holding tensors).
    """
    path = memo_dir() / f"{fn.__name__}-{key_of(fn, args, kwargs)}.pt"
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - torn or from another torch: compute again
            log.warning("memo entry %s is unreadable (%s); computing it again", path, err)
    result = fn(*args, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(result, tmp)
    os.replace(tmp, path)  # whole or absent, also when killed
    return result


__all__ = ["cached", "code_digest", "describe", "key_of", "memo_dir"]
