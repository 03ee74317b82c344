"""Caltech-101/256 loaders on small synthetic trees of the official layouts (and the mirror when
it is installed)."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from zflib.data.caltech import list_classes, load_caltech101, load_caltech256

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))


def _jpeg(path, color, size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format="JPEG", quality=95)


def _caltech101(root):
    base = root / "101_ObjectCategories"
    for i in range(1, 4):
        _jpeg(base / "accordion" / f"image_{i:04d}.jpg", (200, 10, 10))
    for i in range(1, 3):
        _jpeg(base / "Faces" / f"image_{i:04d}.jpg", 128, mode="L")  # grayscale
    _jpeg(base / "BACKGROUND_Google" / "image_0001.jpg", (10, 10, 200))
    _jpeg(base / "BACKGROUND_Google" / "tmp", (10, 200, 10))  # a JPEG without an extension
    (base / "accordion" / "notes.txt").write_text("not an image")
    return base


def test_caltech101_layout_quirks(tmp_path):
    base = _caltech101(tmp_path)
    data = load_caltech101(tmp_path, size=16)
    assert data.classes == ["BACKGROUND_Google", "Faces", "accordion"]  # sorted, case first
    assert data.images.shape == (7, 16, 16, 3) and data.images.dtype == torch.uint8
    assert data.failed == ["accordion/notes.txt"]
    assert "BACKGROUND_Google/tmp" in data.paths
    tmp = data.images[data.paths.index("BACKGROUND_Google/tmp")].float().mean((0, 1))
    assert tmp[1] > 150 and tmp[0] < 60  # decoded as the green JPEG it is
    gray = data.images[data.labels == 1].float()
    assert torch.allclose(gray[..., 0], gray[..., 2], atol=1) and abs(gray.mean() - 128) < 3
    assert data.labels.tolist() == [0, 0, 1, 1, 2, 2, 2]
    # the class folder itself works as root; background can be dropped
    without = load_caltech101(base, size=16, background=False)
    assert without.classes == ["Faces", "accordion"] and len(without) == 5
    assert without.labels.tolist() == [0, 0, 1, 1, 1]


def test_caltech101_cache_and_limit(tmp_path):
    _caltech101(tmp_path)
    first = load_caltech101(tmp_path, size=16)
    cached = list((tmp_path / "home" / "cache").iterdir())
    assert len(cached) == 1
    again = load_caltech101(tmp_path, size=16)
    assert torch.equal(first.images, again.images) and again.paths == first.paths
    limited = load_caltech101(tmp_path, size=16, per_class_limit=1)
    assert np.bincount(limited.labels.numpy()).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="per_class_limit -1 out of range"):
        list_classes(tmp_path / "101_ObjectCategories", per_class_limit=-1)


def test_caltech101_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="101_ObjectCategories"):
        load_caltech101(tmp_path / "nowhere")


def test_caltech256_layout(tmp_path):
    base = tmp_path / "256_ObjectCategories"
    for c, color in [("001.ak47", (250, 0, 0)), ("063.electric-guitar-101", (0, 250, 0)),
                     ("257.clutter", (0, 0, 250))]:
        for i in range(1, 3):
            _jpeg(base / c / f"{c[:3]}_{i:04d}.jpg", color, size=(30, 50))
    (base / "001.ak47" / "greg").mkdir()  # sub-folders are not images
    data = load_caltech256(tmp_path, size=8)
    assert data.classes == ["001.ak47", "063.electric-guitar-101", "257.clutter"]
    assert data.names == ["ak47", "electric guitar", "clutter"]
    assert len(data) == 6 and not data.failed
    centre = data.images.float().mean((1, 2))
    assert centre.argmax(1).tolist() == [0, 0, 1, 1, 2, 2]
    no_clutter = load_caltech256(base, size=8, clutter=False)
    assert len(no_clutter.classes) == 2 and len(no_clutter) == 4


@pytest.mark.skipif(not os.environ.get("ZF_DATA_MIRROR"), reason="needs $ZF_DATA_MIRROR")
def test_caltech101_mirror(monkeypatch):
    monkeypatch.delenv("ZF_HOME")  # the shared install and cache
    data = load_caltech101(size=64, per_class_limit=2)
    assert len(data.classes) == 102 and "BACKGROUND_Google" in data.classes
    assert len(data) == 204 and not data.failed


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
    (["--workers", "0"], "--workers 0 out of range 1.."),
    (["--device", "gpu"], "--device 'gpu' is not a torch device"),
    (["--out", "TMP"], "is not a .json file path"),  # a folder: was written beside it
    (["--out", "TMP/b.txt"], "is not a .json file path"),  # was written as b.json
    (["--model", "nosuch"], "no artifact 'nosuch'"),
    (["--model", "zfnet64"], "not found"),  # no Caltech-101 installed
])
def test_scratch_cli_errors_are_one_line(args, message, tmp_path, capsys, monkeypatch):
    from zflib import scratch

    monkeypatch.delenv("ZF_DATA_MIRROR", raising=False)
    monkeypatch.setattr(scratch, "run_baseline", lambda *a, **kw: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_:
        scratch.main([a.replace("TMP", str(tmp_path)) for a in args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m zflib.scratch") or err.startswith(
        "python -m zflib.scratch: error:")
    assert message in err and "Traceback" not in err
