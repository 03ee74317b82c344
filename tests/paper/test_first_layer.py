"""zflib.paper.first_layer: one recipe trained for two steps on random 256-px images reports
conv1's similarity to its initial filters (started at the asked scale) and band shares."""

from __future__ import annotations

import pytest
import torch

from zflib.data import ImageSet
from zflib.paper.first_layer import run


def _set(n: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    names = [str(i) for i in range(4)]
    return ImageSet(torch.randint(0, 256, (n, 256, 256, 3), dtype=torch.uint8, generator=g),
                    torch.arange(n) % 4, names, names, [""] * n)


def test_a_recipe_reports_conv1(tmp_path):
    res = run("r", 1e-4, _set(8, 0), _set(4, 1), steps=2, batch=4, folder=tmp_path)
    assert res["steps"] == 2
    assert res["conv1_initial_rms"] == pytest.approx(1e-4, rel=0.1)
    assert -1 <= res["init_similarity"] < 0.999  # moved: AdamW's steps are ~lr, 3 times 1e-4
    shares = [res[f"learned_energy_{b}"] for b in ("low", "mid", "high")]
    assert sum(shares) == pytest.approx(1, abs=1e-5)
    assert res["learned_mid_high"] == pytest.approx(shares[1] + shares[2])
