"""zflib/annotations/dog_parts_natural.json: five frontal dog faces of Imagewoof2's validation
split, boxes in the 224 centre crop; geometry a frontal face must have, and the files
themselves when Imagewoof2 is installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zflib

PATH = Path(zflib.__file__).parent / "annotations" / "dog_parts_natural.json"


def test_five_dogs_with_boxes_inside_the_224_crop_in_a_frontal_layout():
    doc = json.loads(PATH.read_text())
    assert doc["coordinates"] == "crop224" and doc["dataset"] == "imagewoof2"
    dogs = doc["images"]
    assert len(dogs) == 5 and len({d["file"] for d in dogs}) == 5
    for d in dogs:
        assert d["file"].startswith(f"val/{d['wnid']}/") and d["file"].endswith(".JPEG")
        b = d["boxes"]
        assert sorted(b) == ["left_eye", "nose", "right_eye"]
        for x0, y0, x1, y1 in b.values():
            assert 0 <= x0 < x1 <= 224 and 0 <= y0 < y1 <= 224, d["file"]
        centre = {k: ((v[0] + v[2]) / 2, (v[1] + v[3]) / 2) for k, v in b.items()}
        # the dog's right eye is on the image's left; the nose between the eyes and below
        assert centre["right_eye"][0] < centre["nose"][0] < centre["left_eye"][0], d["file"]
        assert centre["nose"][1] > max(centre["right_eye"][1], centre["left_eye"][1])
        # boxes do not overlap
        names = list(b)
        for i, p in enumerate(names):
            for q in names[i + 1:]:
                (a0, a1, a2, a3), (c0, c1, c2, c3) = b[p], b[q]
                assert a2 <= c0 or c2 <= a0 or a3 <= c1 or c3 <= a1, (d["file"], p, q)


def test_the_annotated_files_are_in_the_installed_imagewoof2():
    from zflib.data.natural_install import natural_root

    try:
        root = natural_root("imagewoof2")
    except FileNotFoundError:
        pytest.skip("imagewoof2 not installed")
    for d in json.loads(PATH.read_text())["images"]:
        assert (root / d["file"]).is_file(), d["file"]
