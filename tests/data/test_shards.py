"""zflib.data.shards: images packed into shards of a given size and decoded back in their order
(256-px images within JPEG's error, 64-px files upscaled exactly as resize does), missing and
damaged shards named, bad input refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import fake_entries
from PIL import Image

from zflib.data.shards import (
    Entry,
    check_shards,
    pack_shards,
    read_manifest,
    read_shards,
)
from zflib.data.transforms import resize


def test_pack_and_read_back_in_order(tmp_path):
    entries, tiny, imgs = fake_entries(tmp_path)
    out = tmp_path / "shards"
    paths = pack_shards(entries, out, classes=list("abcde"), names=list("ABCDE"),
                        sources=["tiny", "natural"], size=256, quality=95, part_mib=0.03)
    assert len(paths) >= 3 and all(p.stat().st_size <= 0.03 * 2 ** 20 for p in paths)
    m = read_manifest(out)
    assert m["images"] == {"train": 22, "val": 4} and len(m["shards"]) == len(paths)
    assert check_shards(out) == []
    got = read_shards(out, workers=1)
    train, src = got["train"]
    assert train.images.shape == (22, 256, 256, 3) and train.classes == list("abcde")
    assert train.labels.tolist() == [i % 5 for i in range(10)] + [i % 5 for i in range(12)]
    assert src.tolist() == [0] * 10 + [1] * 12
    want_tiny = resize(torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB"))
                                                  for p in tiny])), 256)
    assert torch.equal(train.images[:10], want_tiny)  # the 64-px files upscaled as resize does
    err = (train.images[10:].float() - imgs[:12].float()).abs().mean()
    assert err < 2, err  # JPEG at quality 95 of smooth images
    val, vsrc = got["val"]
    assert len(val) == 4 and vsrc.tolist() == [1] * 4
    assert train.paths[:2] == ["t0.JPEG", "t1.JPEG"] and val.paths[0] == "n12"


def test_missing_and_damaged_shards_are_named(tmp_path):
    entries, _, _ = fake_entries(tmp_path)
    out = tmp_path / "shards"
    paths = pack_shards(entries, out, classes=list("abcde"), names=list("ABCDE"),
                        sources=["tiny", "natural"], size=256, quality=95, part_mib=0.03)
    paths[1].unlink()
    data = bytearray(paths[2].read_bytes())
    data[-100] ^= 0xFF
    paths[2].write_bytes(bytes(data))
    assert check_shards(out) == [f"{paths[1].name} (missing)", f"{paths[2].name} (damaged)"]
    with pytest.raises(FileNotFoundError, match=f"{paths[1].name} \\(missing\\)"):
        read_shards(out, workers=1)


def test_pack_refuses_bad_input(tmp_path):
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    e = Entry(jpeg.getvalue(), 7, "train", "x", "p")
    kw = dict(classes=list("ab"), names=list("ab"), sources=["x"], size=8, quality=90)
    with pytest.raises(ValueError, match="label 7 of p out of range 0..1"):
        pack_shards([e], tmp_path / "a", **kw)
    with pytest.raises(ValueError, match="source 'y' of p not in"):
        pack_shards([Entry(e.jpeg, 1, "train", "y", "p")], tmp_path / "b", **kw)
    with pytest.raises(ValueError, match="part_mib 0 out of range"):
        pack_shards([e], tmp_path / "c", **kw | {"part_mib": 0})
