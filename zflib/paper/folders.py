"""Where a record's files live: the committed PNGs and inputs of each record profile and the
``RESULTS`` file it writes. Read by :mod:`zflib.paper.record`, :mod:`zflib.paper.claims` and
:mod:`zflib.paper.quotes`.
"""

from __future__ import annotations

from pathlib import Path

from zflib.config import RECORD_FIGURES, RECORD_PROFILE, repo_root


def figures_folder(profile: str, root: Path | None = None) -> Path:
    """Where ``profile``'s record finds its PNGs: ``figures/`` for ``full``, ``figures/224/``
    for ``full224`` (``config.RECORD_FIGURES``), ``figures/`` for any other."""
    return (root or repo_root()) / RECORD_FIGURES.get(profile, "figures")


def record_dir(root: Path | None = None, profile: str = RECORD_PROFILE) -> Path:
    """The committed folder of a record's inputs: ``figures/record`` for ``full`` (and the
    profiles without a folder of their own), ``figures/224/record`` for ``full224``."""
    return figures_folder(profile, root) / "record"


def default_out(profile: str) -> Path:
    """``RESULTS.md`` for the record's profile, ``RESULTS-<profile>.md`` for another."""
    return repo_root() / ("RESULTS.md" if profile == RECORD_PROFILE else f"RESULTS-{profile}.md")
