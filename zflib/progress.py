"""Progress bars for long work: ``tqdm.auto``, a widget in Jupyter and text on stderr elsewhere.

The functions of zflib that take minutes (mining, projection, occlusion, feature extraction,
classifier fits, the atlas's pages) take ``progress: bool`` and draw their bar with
:func:`bar`. ``TQDM_DISABLE`` set in the environment (tqdm's own switch, which tqdm's notebook
bars do not read) turns every one of them off: ``make figures`` sets it for the notebooks it
runs (:func:`zflib.paper.figures.run_notebook`), so that the executed copies hold no bars, and
so does the test suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

OFF = "TQDM_DISABLE"


def enabled(progress: bool) -> bool:
    """``progress``, unless ``$TQDM_DISABLE`` is set to anything but ``""``, ``0`` or
    ``false``."""
    return bool(progress) and os.environ.get(OFF, "").strip().lower() in ("", "0", "false")


def bar(iterable: Iterable | None = None, *, progress: bool = True, **kwargs: Any):
    """``tqdm.auto.tqdm(iterable, **kwargs)``, disabled (silent, still iterating) unless
    :func:`enabled` (``progress``)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled(progress), **kwargs)


def ticks(iterable: Iterable, into) -> Iterator:
    """The items of ``iterable``, each counted into the bar ``into`` once it has been used
    (when the next is asked for): one bar over several passes."""
    for item in iterable:
        yield item
        into.update(1)


__all__ = ["OFF", "bar", "enabled", "ticks"]
