"""Argument checks shared by the benchmark scripts: a bad count or output path is refused at
once, as an argparse usage error, not after minutes of timing (or with the results lost)."""

from __future__ import annotations

import argparse
from pathlib import Path


def check(ap: argparse.ArgumentParser, args: argparse.Namespace, *positive: str,
          out: str | None = None, device: str | None = None) -> None:
    """``ap.error`` unless each of the ``positive`` options is >= 1, ``out`` (the results file)
    is not a folder and ``device`` is a usable torch device."""
    for name in positive:
        value = getattr(args, name)
        if value < 1:
            ap.error(f"--{name.replace('_', '-')} {value} out of range 1..")
    if out is not None and Path(out).is_dir():
        ap.error(f"--out {out} is a folder; give the results file (.json)")
    if device:
        from zflib.distributed import device_error

        if bad := device_error(device):
            ap.error(bad)
