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
    from zflib.paper import scratch

    monkeypatch.delenv("ZF_DATA_MIRROR", raising=False)
    monkeypatch.setattr(scratch, "run_baseline", lambda *a, **kw: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_:
        scratch.main([a.replace("TMP", str(tmp_path)) for a in args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m zflib.paper.scratch") or err.startswith(
        "python -m zflib.paper.scratch: error:")
    assert message in err and "Traceback" not in err


def _noise_jpeg(path, size, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        path, format="JPEG", quality=95)


def _installed(home, archive, size):
    """A Caltech-101 tree installed under ``home`` from ``archive`` (its .installed marker),
    two classes of two noise images of ``size`` (w, h)."""
    base = home / "datasets" / "101_ObjectCategories"
    for c in range(2):
        for i in range(2):
            _noise_jpeg(base / f"class{c}" / f"image_{i:04d}.jpg", size, 10 * c + i)
    (base / ".installed").write_text(f"{archive}\n")
    return base


def _centre_square(path, side):
    """Oracle: Pillow alone, shorter side to ``side`` (bilinear, as decode_image) and the
    centre square."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = side / min(w, h)
        nw, nh = max(side, round(w * s)), max(side, round(h * s))
        if (w, h) != (nw, nh):
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
        left, top = (nw - side) // 2, (nh - side) // 2
        return np.asarray(im.crop((left, top, left + side, top + side)))


def test_the_mirrors_reduced_copy_is_upscaled_by_bicubic(tmp_path):
    """Installed from the 96-pixel mirror: at 128 the images are decoded at 96 (the centre
    96 x 96) and upscaled by transforms.resize, as Tiny ImageNet's; both cached."""
    from zflib.data.install import installed_side
    from zflib.data.transforms import resize

    base = _installed(tmp_path / "home", "101_ObjectCategories-96px.tar", (128, 96))
    assert installed_side("caltech101") == 96
    data = load_caltech101(size=128)
    assert data.upscaled_from == 96 and data.images.shape == (4, 128, 128, 3)
    files = [base / p for p in data.paths]
    at96 = torch.from_numpy(np.stack([_centre_square(f, 96) for f in files]))
    assert torch.equal(data.images, resize(at96, 128))
    again = load_caltech101(size=128)  # from the cache, still saying how it was made
    assert torch.equal(again.images, data.images) and again.upscaled_from == 96
    assert data.subset([1, 2]).upscaled_from == 96
    # at 64 (ZFNet-64) they are decoded at 64 as before: nothing to upscale
    small = load_caltech101(size=64)
    assert small.upscaled_from == 0
    assert torch.equal(small.images[0], torch.from_numpy(_centre_square(files[0], 64).copy()))


def test_the_official_full_size_archive_is_decoded_at_the_size(tmp_path):
    """Installed from the official archive (small fake images stand in for full-size ones):
    decoded at 128 directly, shorter side to 128 and the centre square, as the paper's."""
    from zflib.data.install import installed_side

    base = _installed(tmp_path / "home", "101_ObjectCategories.tar.gz", (300, 200))
    assert installed_side("caltech101") == 0
    data = load_caltech101(size=128)
    assert data.upscaled_from == 0
    want = np.stack([_centre_square(base / p, 128) for p in data.paths])
    assert np.abs(data.images.numpy().astype(int) - want).max() <= 1  # draft mode aside
    # a folder given as root is taken as full size unless told otherwise
    assert load_caltech101(base, size=128).upscaled_from == 0
    told = load_caltech101(base, size=128, source_side=96)
    assert told.upscaled_from == 96
    with pytest.raises(ValueError, match="source_side -1 out of range 0.."):
        load_caltech101(base, size=128, source_side=-1)


def test_installed_side_of_a_folder_copy_and_of_nothing(tmp_path):
    from zflib.data.install import installed_side

    with pytest.raises(FileNotFoundError, match="caltech101"):
        installed_side("caltech101")
    _installed(tmp_path / "home", "folder /somewhere: copied /somewhere", (40, 30))
    assert installed_side("caltech101") == 0
