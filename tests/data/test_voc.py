"""PASCAL VOC 2012 loader on a synthetic tree of the official layout."""

import numpy as np
import pytest
import torch
from PIL import Image

from zflib.data.voc import (
    VOC_CLASSES,
    labels_from_annotations,
    labels_from_lists,
    load_voc2012,
    voc_root,
)

torch.set_num_threads(1)

# image id -> [(class, difficult)], split
OBJECTS = {
    "2008_000001": ([("dog", 0), ("person", 0)], "train"),
    "2008_000002": ([("cat", 0), ("cat", 1)], "train"),
    "2008_000003": ([("bottle", 1)], "train"),
    "2009_000004": ([("aeroplane", 0)], "val"),
    "2009_000005": ([("tvmonitor", 0), ("sofa", 1), ("sofa", 0)], "val"),
}


def _xml(objects):
    body = "".join(f"<object><name>{c}</name><pose>Unspecified</pose><truncated>0</truncated>"
                   f"<difficult>{d}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
                   f"<xmax>5</xmax><ymax>5</ymax></bndbox></object>" for c, d in objects)
    return f"<annotation><folder>VOC2012</folder>{body}</annotation>"


def _flag(objects, cls):
    flags = [1 - d for c, d in objects if c == cls]
    return max(flags) if flags else -1


@pytest.fixture
def voc(tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))
    base = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / sub).mkdir(parents=True)
    for k, (image_id, (objects, _)) in enumerate(OBJECTS.items()):
        Image.new("RGB", (50, 30), (40 * k, 10, 10)).save(base / "JPEGImages" / f"{image_id}.jpg")
        (base / "Annotations" / f"{image_id}.xml").write_text(_xml(objects))
    for split in ("train", "val"):
        ids = [i for i, (_, s) in OBJECTS.items() if s == split]
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for c in VOC_CLASSES:
            lines = [f"{i} {_flag(OBJECTS[i][0], c):2d}" for i in ids]
            (base / "ImageSets" / "Main" / f"{c}_{split}.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_lists_and_annotations_agree(voc):
    base = voc_root(voc)
    for split in ("train", "val"):
        ids, flags = labels_from_lists(base, split)
        assert ids == [i for i, (_, s) in OBJECTS.items() if s == split]
        assert np.array_equal(flags, labels_from_annotations(base, ids))
    ids, flags = labels_from_lists(base, "train")
    row = flags[ids.index("2008_000002")]
    assert row[VOC_CLASSES.index("cat")] == 1 and (row == 1).sum() == 1
    row = flags[ids.index("2008_000003")]
    assert row[VOC_CLASSES.index("bottle")] == 0 and (row == -1).sum() == 19  # difficult only


def test_load_voc2012(voc):
    train = load_voc2012(voc, "train", size=16)
    assert train.images.shape == (3, 16, 16, 3) and train.targets.shape == (3, 20)
    assert train.classes == list(VOC_CLASSES) and not train.failed
    assert train.targets[0, VOC_CLASSES.index("dog")] == 1
    assert train.targets[0, VOC_CLASSES.index("person")] == 1
    again = load_voc2012(voc / "VOCdevkit", "train", size=16)  # from the cache
    assert torch.equal(again.images, train.images) and again.ids == train.ids
    val = load_voc2012(voc / "VOCdevkit" / "VOC2012", "val", size=16)
    assert val.ids == ["2009_000004", "2009_000005"]
    assert val.targets[1, VOC_CLASSES.index("sofa")] == 1  # one difficult, one not


def test_falls_back_to_annotations(voc):
    main = voc / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    for c in VOC_CLASSES:
        (main / f"{c}_val.txt").unlink()
    val = load_voc2012(voc, "val", size=8)
    assert val.targets[1, VOC_CLASSES.index("tvmonitor")] == 1
    assert int((val.targets == 1).sum()) == 3


def test_errors(voc, tmp_path):
    with pytest.raises(ValueError, match="split 'test' not valid"):
        load_voc2012(voc, "test")
    with pytest.raises(FileNotFoundError, match="no VOC2012 folder"):
        voc_root(tmp_path / "elsewhere")
    bad = voc / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main" / "dog_train.txt"
    bad.write_text("2008_000001 2\n")
    with pytest.raises(ValueError, match="flag 2 out of range"):
        labels_from_lists(voc_root(voc), "train")


def test_an_image_rewritten_at_the_same_size_is_decoded_again(voc):
    """The cache key holds each JPEG's modification time, not only its size."""
    import io
    import os

    path = voc_root(voc) / "JPEGImages" / "2008_000001.jpg"
    path.write_bytes(path.read_bytes() + b"\0" * 256)  # room to rewrite at the same size
    first = load_voc2012(voc, "train", size=16)
    old = path.read_bytes()
    buf = io.BytesIO()
    Image.new("RGB", (50, 30), (200, 200, 10)).save(buf, format="JPEG")
    new = buf.getvalue()
    assert len(new) <= len(old)
    path.write_bytes(new + b"\0" * (len(old) - len(new)))  # bytes after the JPEG end are ignored
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write, same size
    again = load_voc2012(voc, "train", size=16)
    assert not torch.equal(again.images[0], first.images[0])
    assert torch.equal(again.images[1:], first.images[1:])
    assert float(again.images[0, ..., 0].float().mean()) > 150  # the new, red-yellow pixels
