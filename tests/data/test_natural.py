"""zflib.data.natural: the loaders' shapes, labels, names and pixels on tiny synthetic
installs, against Pillow alone (an oracle that shares no code with the decoder); and the real
installs when they are there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_natural_install import make_tree, write_image

from zflib.data import natural_install as ni
from zflib.data.natural import (
    load_caltech101_full,
    load_examples,
    load_imagenette,
    load_imagewoof,
)
from zflib.data.natural_install import NATURAL, NaturalSpec

WOOF = {"train/n02086240": 2, "train/n02099601": 3, "val/n02086240": 1, "val/n02099601": 2}
NETTE = {"train/n01440764": 2, "train/n03000684": 1, "val/n01440764": 1, "val/n03000684": 1}


def centre_square(path, side):
    """Oracle: Pillow alone, shorter side to ``side`` (bilinear) and the centre square."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = side / min(w, h)
        nw, nh = max(side, round(w * s)), max(side, round(h * s))
        if (w, h) != (nw, nh):
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
        left, top = (nw - side) // 2, (nh - side) // 2
        return np.asarray(im.crop((left, top, left + side, top + side)))


@pytest.fixture
def installed(tmp_path, zf_home, monkeypatch):
    """Imagewoof2 (40 x 30 images) and a squashed Imagenette2 (24 x 24) installed from
    synthetic folders under small specs."""
    monkeypatch.setitem(NATURAL, "imagewoof2", NaturalSpec("imagewoof2", WOOF, (), (), "how"))
    monkeypatch.setitem(NATURAL, "imagenette2",
                        NaturalSpec("imagenette2", NETTE, ("imagenette2-320",), (), "how"))
    ni.install_natural_folder("imagewoof2", make_tree(tmp_path / "woof", WOOF, size=(40, 30)))
    ni.install_natural_folder("imagenette2", make_tree(tmp_path / "nette", NETTE, size=(24, 24)))
    return zf_home / "datasets"


def test_imagewoof_shapes_labels_names_and_pixels(installed):
    train = load_imagewoof("train", 16)
    assert train.images.shape == (5, 16, 16, 3) and train.images.dtype == torch.uint8
    assert train.classes == ["n02086240", "n02099601"]
    assert train.names == ["Shih-Tzu", "golden retriever"]
    assert train.labels.tolist() == [0, 0, 1, 1, 1]
    assert train.paths[2] == "train/n02099601/0.JPEG" and train.upscaled_from == 0
    want = np.stack([centre_square(installed / "imagewoof2" / p, 16) for p in train.paths])
    assert np.abs(train.images.numpy().astype(int) - want).max() <= 1  # JPEG draft aside
    val = load_imagewoof("val", 16)
    assert val.labels.tolist() == [0, 1, 1] and val.paths[0] == "val/n02086240/0.JPEG"
    limited = load_imagewoof("train", 16, per_class_limit=1)
    assert limited.labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="split 'test' not valid; valid: train, val"):
        load_imagewoof("test")


def test_the_squashed_copy_is_upscaled_by_bicubic_above_its_side(installed):
    from zflib.data.transforms import resize

    assert ni.natural_side("imagenette2") == 24
    big = load_imagenette("val", 32)
    assert big.upscaled_from == 24 and big.images.shape == (2, 32, 32, 3)
    at24 = np.stack([centre_square(installed / "imagenette2" / p, 24) for p in big.paths])
    assert torch.equal(big.images, resize(torch.from_numpy(at24), 32))
    small = load_imagenette("val", 24)  # at its own side: the file's pixels
    assert small.upscaled_from == 0 and torch.equal(small.images, torch.from_numpy(at24))
    assert big.names == ["tench", "chain saw"]


def test_the_official_320_layout_loads_from_a_folder(tmp_path, installed):
    top = make_tree(tmp_path / "dl" / "imagenette2-320", NETTE, size=(44, 30))
    data = load_imagenette("train", 16, root=tmp_path / "dl")  # the parent of the top folder
    assert data.labels.tolist() == [0, 0, 1] and data.upscaled_from == 0
    want = np.stack([centre_square(top / p, 16) for p in data.paths])
    assert np.abs(data.images.numpy().astype(int) - want).max() <= 1


def test_a_folder_of_other_classes_is_refused(tmp_path, installed):
    make_tree(tmp_path / "x", {"val/n02086240": 1, "val/n09999999": 1})
    with pytest.raises(ValueError, match="missing n02099601; foreign n09999999"):
        load_imagewoof("val", 16, root=tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="no folder .*train"):
        load_imagewoof("train", 16, root=tmp_path / "x")


def test_examples_one_per_class_in_the_asked_order(tmp_path, zf_home, monkeypatch):
    from zflib.data import natural

    src = tmp_path / "ex"
    write_image(src / "n02099601_golden_retriever.JPEG", 1, size=(44, 30))
    write_image(src / "n01440764_tench.JPEG", 2, size=(30, 50))
    write_image(src / "n03000684_chain_saw.JPEG", 3)
    (src / "README.md").write_text("#")
    data = load_examples(16, ["n03000684", "n02099601"], root=src)
    assert data.classes == ["n03000684", "n02099601"] and data.labels.tolist() == [0, 1]
    assert data.names == ["chain saw", "golden retriever"]
    assert data.paths == ["n03000684_chain_saw.JPEG", "n02099601_golden_retriever.JPEG"]
    want = np.stack([centre_square(src / p, 16) for p in data.paths])
    assert np.abs(data.images.numpy().astype(int) - want).max() <= 1
    # by default Tiny ImageNet's classes (here a three-id list standing in for the 200)
    wnids = tmp_path / "wnids.txt"
    wnids.write_text("n01440764\nn02099601\n")
    monkeypatch.setattr(natural, "OFFICIAL_WNIDS", wnids)
    assert load_examples(8, root=src).classes == ["n01440764", "n02099601"]
    with pytest.raises(ValueError, match="no example of 1 of the 2 classes asked for: n0999"):
        load_examples(8, ["n02099601", "n09999999"], root=src)
    with pytest.raises(ValueError, match="1 duplicate"):
        load_examples(8, ["n02099601", "n02099601"], root=src)


def test_full_size_caltech_loads_through_load_caltech101(tmp_path, zf_home, monkeypatch):
    counts = {"BACKGROUND_Google": 2, "accordion": 2}
    monkeypatch.setitem(NATURAL, "caltech101-full",
                        NaturalSpec("caltech101-full", counts,
                                    ("101_ObjectCategories", "caltech-101"), (), "how"))
    src = tmp_path / "repo" / "caltech-101"
    write_image(src / "BACKGROUND_Google" / "image_0001.jpg", 1, size=(300, 200))
    write_image(src / "BACKGROUND_Google" / "tmp", 2, size=(200, 300))  # no extension
    for i in range(2):  # re-saved greyscale, as the public copy's accordion
        write_image(src / "accordion" / f"image_{i + 1:04d}.jpg", 3 + i, size=(250, 180),
                    mode="L")
    (tmp_path / "repo" / "organized_caltech101" / "accordion").mkdir(parents=True)
    root, _ = ni.install_natural_folder("caltech101-full", tmp_path / "repo")  # its root
    assert ni.natural_side("caltech101-full") == 0
    data = load_caltech101_full(128)  # no JPEG draft below 2x: the oracle's pixels
    assert data.classes == ["BACKGROUND_Google", "accordion"]
    assert data.labels.tolist() == [0, 0, 1, 1] and data.upscaled_from == 0
    want = np.stack([centre_square(root / p, 128) for p in data.paths])
    assert np.abs(data.images.numpy().astype(int) - want).max() <= 1
    grey = data.images[2:].int()
    assert torch.equal(grey[..., 0], grey[..., 1]) and torch.equal(grey[..., 1], grey[..., 2])
    assert len(load_caltech101_full(128, background=False)) == 2


REAL = {"imagewoof2": 12954, "imagenette2": 13394, "imagenet-examples": 1000,
        "caltech101-full": 9144}


@pytest.mark.parametrize("name", sorted(REAL))
def test_the_real_install_when_present(name, monkeypatch):
    """The sets installed under the default $ZF_HOME from the public copies (skipped where
    they are not): every file there, none unreadable."""
    try:
        info = ni.natural_info(name)
    except FileNotFoundError:
        pytest.skip(f"{name} not installed (python -m zflib.data install {name} --from ...)")
    assert info["files"] == REAL[name] and info["unreadable"] == []
