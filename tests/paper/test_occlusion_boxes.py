"""Fig. 7's claim measured against object boxes (zflib.paper.occlusion_boxes)."""

from __future__ import annotations

import math

import pytest
import torch

from zflib.config import get_config
from zflib.methods.occlusion import OcclusionMaps, window_masks, window_starts
from zflib.paper.occlusion_boxes import (
    choose_images,
    crop_box,
    has_on_and_off,
    measure,
    object_boxes,
    on_off,
    square_overlap,
    summarise,
)
from zflib.training.models import build_model

torch.set_num_threads(1)


def _box_mask(box, extent):
    x0, y0, x1, y1 = box
    m = torch.zeros(extent, extent, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def _brute_share(box, size, stride, extent):
    """Each square's share inside the box, counted pixel by pixel."""
    masks = window_masks(extent, extent, size, stride)
    inside = (masks & _box_mask(box, extent)).sum((1, 2)).double()
    n = len(window_starts(extent, size, stride))
    return (inside / masks.sum((1, 2)).double()).reshape(n, n)


def test_crop_box_scales_and_shifts_into_the_centre_crop():
    # 64 -> 256 is 4x; the 224 crop starts at 16; a box past the crop is clipped
    cfg224 = get_config("full224")
    assert crop_box((0, 32, 44, 62), source=64, cfg=cfg224).tolist() == [0, 112, 160, 224]
    assert crop_box((10, 10, 20, 20), source=64, cfg=cfg224).tolist() == [24, 24, 64, 64]
    cfg64 = get_config("smoke")  # 64 stored, 56 crop: offset 4, no scaling
    assert crop_box((10, 10, 20, 20), source=64, cfg=cfg64).tolist() == [6, 6, 16, 16]
    with pytest.raises(ValueError, match="not inside the 0..64 image"):
        crop_box((0, 0, 65, 10), source=64, cfg=cfg64)
    with pytest.raises(ValueError, match="x0 < x1"):
        crop_box((5, 0, 5, 10), source=64, cfg=cfg64)


@pytest.mark.parametrize("box,size,stride", [((3, 5, 20, 17), 6, 4), ((0, 0, 30, 30), 12, 4),
                                             ((10, 2, 11, 29), 8, 5), ((7, 7, 9, 9), 10, 10)])
def test_square_overlap_equals_pixel_counts(box, size, stride):
    starts = window_starts(30, size, stride)
    got = square_overlap(torch.tensor(box), ys=starts, xs=starts, size=size, extent=30)
    torch.testing.assert_close(got, _brute_share(box, size, stride, 30), rtol=0, atol=1e-12)


def _maps(prob, size, stride, extent, clean=0.9):
    starts = window_starts(extent, size, stride)
    return OcclusionMaps(feature=torch.zeros_like(prob), prob=prob, top_class=torch.zeros_like(
        prob, dtype=torch.long), top_prob=prob, ys=starts, xs=starts, size=size, stride=stride,
        target=0, layer="conv5", channel=0, clean_feature=0.0, clean_prob=clean,
        clean_top=0, clean_argmax=(0, 0))


def test_on_off_averages_the_right_positions():
    size, stride, extent = 8, 4, 30
    n = len(window_starts(extent, size, stride))
    prob = torch.rand(n, n, generator=torch.Generator().manual_seed(0))
    box = (4, 6, 19, 21)
    share = _brute_share(box, size, stride, extent)
    got = on_off(_maps(prob, size, stride, extent), torch.tensor(box), extent=extent)
    assert got["on"] == pytest.approx(float(prob[share >= 0.5].mean()), abs=1e-7)
    assert got["off"] == pytest.approx(float(prob[share == 0].mean()), abs=1e-7)
    assert got["positions_on"] == int((share >= 0.5).sum()) > 0
    assert got["positions_off"] == int((share == 0).sum()) > 0
    assert got["clean"] == 0.9
    # a box that fills the image leaves no square off it
    full = on_off(_maps(prob, size, stride, extent), torch.tensor((0, 0, 30, 30)), extent=extent)
    assert math.isnan(full["off"]) and full["positions_off"] == 0
    assert not has_on_and_off(torch.tensor((0, 0, 30, 30)), size=size, stride=stride,
                              extent=extent)
    assert has_on_and_off(torch.tensor(box), size=size, stride=stride, extent=extent)


def test_summarise_and_its_sign_test():
    rows = [{"clean": 0.8, "on": 0.2, "off": 0.7}, {"clean": 0.6, "on": 0.1, "off": 0.5},
            {"clean": 0.9, "on": 0.9, "off": 0.3}]
    s = summarise(rows)
    assert s["images"] == 3 and s["share_on_lower"] == pytest.approx(2 / 3)
    assert s["sign_test_p"] == pytest.approx(4 / 8)  # P(X >= 2), X ~ Bin(3, 1/2)
    assert s["on"] == pytest.approx(0.4) and s["off"] == pytest.approx(0.5)
    assert s["on_over_off_median"] == pytest.approx(2 / 7)  # the median of 2/7, 1/5, 3
    assert summarise(rows[:2])["sign_test_p"] == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="no images"):
        summarise([])


def test_choose_images_takes_the_first_correct_ones_with_room():
    probs = torch.eye(4)[[0, 1, 0, 3, 2]]  # right: 0, 1, 3 (0 fills the image); wrong: 2, 4
    labels = torch.tensor([0, 1, 2, 3, 3])
    boxes = torch.tensor([[0, 0, 30, 30], [4, 4, 12, 12], [4, 4, 12, 12], [10, 10, 20, 20],
                          [4, 4, 12, 12]])
    assert choose_images(probs, labels, boxes, n=5, size=8, stride=4, extent=30) == [1, 3]
    assert choose_images(probs, labels, boxes, n=1, size=8, stride=4, extent=30) == [1]
    with pytest.raises(ValueError, match="n 0 out of range"):
        choose_images(probs, labels, boxes, n=0, size=8, stride=4, extent=30)


def test_measure_equals_occluded_images_run_by_hand():
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(2, 3, 56, 56, generator=g)
    base = 0.1 * torch.randn(3, 56, 56, generator=g)
    labels = torch.tensor([5, 17])
    boxes = torch.tensor([[10, 14, 40, 34], [0, 0, 20, 56]])
    size, stride = 12, 8
    rows = measure(model, inputs, labels, boxes, [1, 0], baseline=base, size=size,
                   stride=stride)
    masks = window_masks(56, 56, size, stride)
    for row, i in zip(rows, [1, 0], strict=True):
        with torch.no_grad():
            occluded = torch.where(masks[:, None], base, inputs[i])
            p = torch.softmax(model(occluded), 1)[:, labels[i]].double()
            clean = float(torch.softmax(model(inputs[i][None]), 1)[0, labels[i]])
        share = _brute_share(boxes[i].tolist(), size, stride, 56).flatten()
        assert row["image"] == i
        assert row["on"] == pytest.approx(float(p[share >= 0.5].mean()), abs=1e-5)
        assert row["off"] == pytest.approx(float(p[share == 0].mean()), abs=1e-5)
        assert row["clean"] == pytest.approx(clean, abs=1e-5)


def test_object_boxes_read_val_annotations(tmp_path):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "val_annotations.txt").write_text(
        "val_0.JPEG\tn01\t0\t32\t44\t62\nval_1.JPEG\tn02\t10\t10\t19\t19\n")
    cfg = get_config("full224")
    got = object_boxes(["x/val_1.JPEG", "x/val_0.JPEG"], cfg, root=tmp_path)
    # the last pixel inside (19) becomes the end (20), then 4x and the crop's 16-pixel offset
    assert got.tolist() == [[24, 24, 64, 64], [0, 112, 164, 224]]
    with pytest.raises(ValueError, match="val_7.JPEG"):
        object_boxes(["val_7.JPEG"], cfg, root=tmp_path)
