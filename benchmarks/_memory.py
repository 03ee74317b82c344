"""Resident memory of this process over a block, sampled: ``ru_maxrss`` only ever rises, so
a block that allocates less than an earlier peak (the decoded dataset) shows no growth there."""

from __future__ import annotations

import os
import resource
import threading


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux ``/proc/self/statm``), in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def resource_peak_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``), in MB: the whole run's."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRSS:
    """``with PeakRSS() as m: ...`` then ``m.growth_mb``: the highest resident memory seen
    while the block ran (sampled every ``every`` seconds) minus the memory at its start."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_mb = max(self.peak_mb, current_rss_mb())

    def __enter__(self) -> PeakRSS:
        self.start_mb = self.peak_mb = current_rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, current_rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.start_mb
