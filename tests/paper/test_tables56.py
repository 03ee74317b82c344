"""Tables 5 and 6 end to end on small synthetic trees of the official Caltech-256 and VOC 2012
layouts, through the committed ZFNet-64: images of one colour per class, so a softmax on fixed
fc7 features must rank every class's own images first."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from zflib.config import PROFILES
from zflib.data.voc import VOC_CLASSES
from zflib.paper import tables56

torch.set_num_threads(1)

COLOURS = {"dog": (200, 30, 30), "cat": (30, 200, 30), "car": (30, 30, 200),
           "bird": (220, 220, 40)}


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))


def _jpeg(path, colour, seed):
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour) + rng.integers(-20, 21, (48, 40, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path, format="JPEG", quality=95)


def _caltech256(root, per_class=4):
    base = root / "256_ObjectCategories"
    for k, (name, colour) in enumerate(COLOURS.items()):
        folder = f"{k + 1:03d}.{name}" if name != "bird" else "257.clutter"
        for i in range(per_class):
            _jpeg(base / folder / f"{folder[:3]}_{i + 1:04d}.jpg", colour, 10 * k + i)
    return base


def _voc(root):
    """Three classes of VOC's twenty, one object per image: 4 train and 2 val images each."""
    base = root / "VOCdevkit" / "VOC2012"
    main = base / "ImageSets" / "Main"
    main.mkdir(parents=True)
    ids = {"train": [], "val": []}
    for k, name in enumerate(("dog", "cat", "car")):
        for i in range(6):
            split = "train" if i < 4 else "val"
            image_id = f"2008_{100 * k + i:06d}"
            _jpeg(base / "JPEGImages" / f"{image_id}.jpg", COLOURS[name], 100 * k + i)
            ids[split].append((image_id, name))
    for split, rows in ids.items():
        (main / f"{split}.txt").write_text("".join(f"{i}\n" for i, _ in rows))
        for c in VOC_CLASSES:
            (main / f"{c}_{split}.txt").write_text(
                "".join(f"{i} {1 if n == c else -1:2d}\n" for i, n in rows))
    return root / "VOCdevkit"


def test_caltech256_table5(tmp_path, capsys):
    root = _caltech256(tmp_path)
    res = tables56.run_caltech256(root, profile="smoke", device="cpu")
    assert res["dataset"] == "caltech256" and res["classes"] == 4 and res["images"] == 16
    assert "Sohn et al. (2011)" in res["paper"]  # Table 5's rows, not Table 4's
    assert res["scratch"] == {}
    for n in (1, 2):
        assert len(res["pretrained"][n]["runs"]) == 1
    assert res["pretrained"][2]["mean"] == 100.0  # one colour per class: every test image right
    tables56.main(["caltech256", "--root", str(tmp_path), "--profile", "smoke", "--device",
                   "cpu", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "| Caltech-256, train |" in out and "Sohn et al. (2011) (paper)" in out
    saved = json.loads((tmp_path / "out" / "table5_caltech256_smoke.json").read_text())
    assert saved["data"]["pretrained"]["2"]["mean"] == 100.0
    assert (tmp_path / "out" / "fig09_caltech256_smoke.png").stat().st_size > 0


def test_caltech256_too_few_images(tmp_path):
    root = _caltech256(tmp_path, per_class=2)  # smoke trains on up to 2: needs 3 per class
    with pytest.raises(ValueError, match="4 class\\(es\\) .* fewer than 3 images"):
        tables56.run_caltech256(root, profile="smoke", device="cpu")


def test_voc2012_table6(tmp_path, capsys):
    root = _voc(tmp_path)
    res = tables56.run_voc2012(root, profile="smoke", device="cpu")
    assert (res["train_images"], res["test_images"]) == (12, 6) and res["failed"] == []
    assert set(res["ap"]) == {"dog", "cat", "car"}  # only classes with a positive in val
    assert all(ap == 100.0 for ap in res["ap"].values()), res["ap"]
    assert res["paper_mean_ap"]["ImageNet-pretrained convnet"] == 79.0
    tables56.main(["voc2012", "--root", str(root), "--profile", "smoke", "--device", "cpu",
                   "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "| dog | 100.0 |" in out and "ImageNet-pretrained convnet (paper) | 79" in out
    assert (tmp_path / "out" / "table6_voc2012_smoke.json").exists()


def test_cli_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        tables56.main(["caltech256", "--root", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2
    assert "no folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tables56.main(["voc2012", "--root", str(tmp_path), "--profile", "huge"])
    assert (f"unknown profile 'huge'; valid: {', '.join(PROFILES)}"
            in capsys.readouterr().err)
    with pytest.raises(SystemExit):  # fc7 of a conv-only artifact would be untrained
        tables56.main(["voc2012", "--root", str(tmp_path), "--model", "alexnet64"])
    assert "'alexnet64' stores its conv layers only" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--device", "gpu"], "--device 'gpu' is not a torch device"),  # was a torch traceback
    (["--out", "AFILE"], "is a file, not a folder"),  # was found after the whole table
])
def test_cli_refuses_a_bad_device_or_out_before_any_work(args, message, tmp_path, capsys,
                                                         monkeypatch):
    (tmp_path / "afile").write_text("keep me")
    args = [str(tmp_path / "afile") if a == "AFILE" else a for a in args]
    monkeypatch.setattr(tables56, "run_voc2012", lambda *a, **kw: pytest.fail("ran"))
    with pytest.raises(SystemExit) as exit_:
        tables56.main(["voc2012", "--root", str(tmp_path), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "keep me"
