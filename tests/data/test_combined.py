"""zflib.data.combined: the 219-class problem's class list and label maps by brute force, and
the combined set on synthetic sources (Tiny ImageNet's fixture, small Imagewoof2 and
Imagenette2 installs)."""

from __future__ import annotations

import pytest
import torch
from test_natural_install import make_tree

from zflib.data import natural_install as ni
from zflib.data.combined import combined_classes, load_combined, source_classes
from zflib.data.natural import load_imagenette, load_imagewoof
from zflib.data.natural_install import NATURAL, NaturalSpec
from zflib.data.transforms import resize


def test_219_classes_with_golden_retriever_merged_by_brute_force():
    sources = source_classes()
    classes, maps = combined_classes()
    assert [len(sources[s]) for s in ("tiny-imagenet", "imagewoof2", "imagenette2")] == [
        200, 10, 10]
    # every pair of (source, class) compared with every other: which wnids recur?
    pairs = [(s, w) for s, ws in sources.items() for w in ws]
    shared = sorted({w for i, (s, w) in enumerate(pairs) for t, v in pairs[i + 1:]
                     if v == w and t != s})
    assert shared == ["n02099601"]
    assert len(classes) == len(pairs) - len(shared) == 219
    assert all(classes.count(c) == 1 for c in classes)
    for s, ws in sources.items():
        assert maps[s].dtype == torch.long and len(maps[s]) == len(ws)
        for i, w in enumerate(ws):
            assert classes[int(maps[s][i])] == w
    golden = [int(maps[s][sources[s].index("n02099601")]) for s in ("tiny-imagenet",
                                                                      "imagewoof2")]
    assert golden[0] == golden[1] == sources["tiny-imagenet"].index("n02099601")
    assert classes[:200] == sources["tiny-imagenet"]  # Tiny ImageNet's labels unchanged
    assert maps["imagenette2"].tolist() == list(range(209, 219))
    with pytest.raises(ValueError, match="source a lists a class twice"):
        combined_classes({"a": ["x", "x"]})


# the synthetic Tiny ImageNet (conftest) has n00000000..n00000009; Imagewoof2 here shares
# n00000003 with it, as the real one shares golden retriever
WOOF = {"train/n00000003": 3, "train/n02086240": 2, "val/n00000003": 1, "val/n02086240": 1}
NETTE = {"train/n01440764": 2, "train/n03000684": 2, "val/n01440764": 1, "val/n03000684": 1}


def test_the_combined_set_on_synthetic_sources(tiny_home, tmp_path, monkeypatch):
    monkeypatch.setitem(NATURAL, "imagewoof2", NaturalSpec("imagewoof2", WOOF, (), (), "how"))
    monkeypatch.setitem(NATURAL, "imagenette2", NaturalSpec("imagenette2", NETTE, (), (), "h"))
    ni.install_natural_folder("imagewoof2", make_tree(tmp_path / "woof", WOOF, size=(40, 30)))
    ni.install_natural_folder("imagenette2", make_tree(tmp_path / "nette", NETTE))
    data = load_combined("train", size=32, per_class_limit=2)
    # 10 Tiny classes, Imagewoof2's one new, Imagenette2's two: 13
    assert data.classes == [f"n{i:08d}" for i in range(10)] + ["n02086240", "n01440764",
                                                               "n03000684"]
    assert data.names[3] == "class 3" and data.names[10] == "Shih-Tzu"
    assert data.images.shape == (20 + 4 + 4, 32, 32, 3)
    want = [y for y in range(10) for _ in range(2)] + [3, 3, 10, 10] + [11, 11, 12, 12]
    assert data.labels.tolist() == want
    assert torch.bincount(data.labels).tolist()[3] == 4  # the merged class holds both
    assert data.paths[20] == "imagewoof2/train/n00000003/0.JPEG"
    assert data.paths[0].startswith("tiny-imagenet/train/n00000000/images/")
    # each part as its own loader gives it
    from zflib.config import get_config
    from zflib.data import _load, load_split

    _load.cache_clear()
    tiny = load_split(get_config("smoke", num_classes=10, train_per_class=2), "train")
    assert torch.equal(data.images[:20], resize(tiny.images, 32))
    woof = load_imagewoof("train", 32, per_class_limit=2)
    assert torch.equal(data.images[20:24], woof.images)
    assert torch.equal(data.images[24:], load_imagenette("train", 32, per_class_limit=2).images)
    val = load_combined("val", size=32, per_class_limit=1)
    assert val.labels.tolist() == list(range(10)) + [3, 10, 11, 12]
    with pytest.raises(ValueError, match="per_class_limit -1 out of range 0.."):
        load_combined("val", per_class_limit=-1)
