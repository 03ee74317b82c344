"""zflib.methods.correspondence: the sign-change score by hand and by brute force; the
annotations."""

from __future__ import annotations

import copy
import dataclasses
import json
from itertools import permutations

import numpy as np
import pytest
import torch

from zflib.config import get_config
from zflib.data import ImageSet, to_input
from zflib.methods.correspondence import (
    ANNOTATIONS,
    MORE_DOGS,
    PAPER_TABLE1,
    PARTS,
    ROWS,
    aligned_boxes,
    correspondence_table,
    decompose,
    example_random_boxes,
    load_dog_parts,
    mask_inputs,
    models_table,
    random_boxes,
    sign_change,
)
from zflib.methods.occlusion import grey_baseline
from zflib.results import load_saved, save_results
from zflib.training.models import build_model
from zflib.viz.correspondence import (
    decomposition_markdown,
    models_markdown,
    plot_consistency,
    table_markdown,
)

torch.set_num_threads(1)


def test_sign_change_by_hand():
    eps = torch.tensor([[1.0, -1.0, 0.0], [2.0, 3.0, 0.0], [-1.0, -1.0, 0.0]])
    # pairs (0,1): one sign differs; (0,2): one; (1,2): two; over D = 3 features
    torch.testing.assert_close(sign_change(eps), torch.tensor([1 / 3, 1 / 3, 2 / 3],
                                                              dtype=torch.float64))


def test_sign_change_mean_is_the_papers_sum_normalised():
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(5, 40, generator=g) * (torch.rand(5, 40, generator=g) > 0.5)
    delta = sum(int((torch.sign(eps[i]) != torch.sign(eps[j])).sum())
                for i, j in permutations(range(5), 2))
    assert float(sign_change(eps).mean()) == pytest.approx(delta / (5 * 4 * 40))
    with pytest.raises(ValueError, match="N >= 2"):
        sign_change(eps[:1])


def test_decompose_by_hand():
    eps = torch.tensor([[1.0, -1.0, 0.0, 2.0], [2.0, 3.0, 0.0, 0.0], [-1.0, -1.0, 0.0, 0.0]])
    # changed: 3 + 2 + 2 of 12; pairs changing common features: (0,1) features 0, 1: one
    # opposite; (0,2) 0, 1: one; (1,2) 0, 1: two -> (1/2 + 1/2 + 2/2) / 3
    d = decompose(eps)
    assert d["changed"] == pytest.approx(7 / 12)
    assert d["disagree"] == pytest.approx(2 / 3)
    # pairs with no commonly changed feature are left out; none at all gives nan
    d = decompose(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    assert d["disagree"] == 1.0
    assert torch.isnan(torch.tensor(decompose(torch.zeros(3, 2))["disagree"]))


def test_mask_inputs_covers_exactly_the_box():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 56, 56, generator=g)
    fill = torch.randn(3, 56, 56, generator=g)
    boxes = torch.tensor([[10, 20, 15, 30], [0, 58, 8, 64]])  # the second one mostly outside
    y = mask_inputs(x, boxes, fill, offset=4)
    want = x.clone()
    want[0, :, 16:26, 6:11] = fill[:, 16:26, 6:11]
    want[1, :, 54:56, 0:4] = fill[:, 54:56, 0:4]
    assert torch.equal(y, want)


def test_random_boxes_keep_sizes_and_stay_visible():
    boxes = torch.tensor([[10, 20, 15, 30], [30, 30, 44, 41]] * 50)
    g = torch.Generator().manual_seed(3)
    r = random_boxes(boxes, lo=4, hi=60, generator=g)
    assert torch.equal(r[:, 2] - r[:, 0], boxes[:, 2] - boxes[:, 0])
    assert torch.equal(r[:, 3] - r[:, 1], boxes[:, 3] - boxes[:, 1])
    assert r[:, :2].min() >= 4 and r[:, 2:].max() <= 60
    assert len(set(map(tuple, r.tolist()))) > 50  # they do move
    again = random_boxes(boxes, lo=4, hi=60, generator=torch.Generator().manual_seed(3))
    assert torch.equal(r, again)
    with pytest.raises(ValueError, match="larger than the visible range"):
        random_boxes(torch.tensor([[0, 0, 60, 5]]), lo=4, hi=60, generator=g)


@pytest.mark.parametrize(("path", "dogs"), [(ANNOTATIONS, 5), (MORE_DOGS, 9)])
def test_annotation_file_is_plausible(path, dogs):
    """Five dogs (nine more in the second file), each box inside the centre crop; the dog's
    right eye is on the image's left, the nose below both eyes."""
    spec = json.loads(path.read_text())
    assert len(spec["images"]) == dogs
    for e in spec["images"]:
        b = {p: e["boxes"][p] for p in PARTS}
        for x0, y0, x1, y1 in b.values():
            assert 4 <= x0 < x1 <= 60 and 4 <= y0 < y1 <= 60, e["file"]
        assert b["right_eye"][2] <= b["left_eye"][0], e["file"]
        nose_y = (b["nose"][1] + b["nose"][3]) / 2
        assert nose_y > max((b[p][1] + b[p][3]) / 2 for p in ("left_eye", "right_eye"))


def _fake_split(tmp_files: list[str]) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    n = len(tmp_files)
    return ImageSet(torch.randint(0, 256, (n, 64, 64, 3), generator=g, dtype=torch.uint8),
                    torch.zeros(n, dtype=torch.long), ["n0"], ["dog"],
                    [f"val/images/{f}" for f in tmp_files])


def test_load_dog_parts_finds_images_and_reports_missing_ones(tmp_path):
    files = [e["file"] for e in json.loads(ANNOTATIONS.read_text())["images"]]
    data = _fake_split(["val_1.JPEG"] + files[::-1])
    parts = load_dog_parts(data)
    assert [data.paths[i].split("/")[-1] for i in parts.index.tolist()] == files
    assert set(parts.boxes) == set(PARTS) and parts.boxes["nose"].shape == (5, 4)
    with pytest.raises(ValueError, match=files[0]):
        load_dog_parts(_fake_split(files[1:]))
    more = [e["file"] for e in json.loads(MORE_DOGS.read_text())["images"]]
    both = load_dog_parts(_fake_split(more + files), [ANNOTATIONS, MORE_DOGS])
    assert both.files == files + more and len(set(files + more)) == 14
    assert both.boxes["left_eye"].shape == (14, 4)
    bad = json.loads(ANNOTATIONS.read_text())
    bad["images"][0]["boxes"]["nose"] = [50, 50, 70, 60]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"nose box \[50, 50, 70, 60\] not inside"):
        load_dog_parts(data, path)


def _setup():
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    cfg = get_config("smoke")
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (5, 64, 64, 3), generator=g, dtype=torch.uint8)
    mean = 100 + 20 * torch.rand(3, 64, 64, generator=g)
    spec = json.loads(ANNOTATIONS.read_text())["images"]
    boxes = {p: torch.tensor([e["boxes"][p] for e in spec]) for p in PARTS}
    return model, cfg, images, mean, boxes


def _disagree(eps: torch.Tensor) -> float:
    """Brute force: per pair, opposite signs among features both rows change; mean of pairs."""
    s = torch.sign(eps)
    out = []
    for i in range(len(s)):
        for j in range(i + 1, len(s)):
            both = (s[i] != 0) & (s[j] != 0)
            if both.any():
                out.append(float((s[i][both] != s[j][both]).double().mean()))
    return sum(out) / len(out)


def test_aligned_boxes_share_one_centre_and_reach_every_allowed_one():
    boxes = torch.tensor([[10, 20, 15, 30], [30, 30, 44, 41], [0, 0, 9, 9]])
    g = torch.Generator().manual_seed(3)
    centres = set()
    for _ in range(3000):
        b = aligned_boxes(boxes, lo=4, hi=60, generator=g)
        assert torch.equal(b[:, 2] - b[:, 0], boxes[:, 2] - boxes[:, 0])
        assert torch.equal(b[:, 3] - b[:, 1], boxes[:, 3] - boxes[:, 1])
        assert b[:, :2].min() >= 4 and b[:, 2:].max() <= 60
        cx, cy = b[:, 0] + (b[:, 2] - b[:, 0]) // 2, b[:, 1] + (b[:, 3] - b[:, 1]) // 2
        assert len(set(cx.tolist())) == 1 and len(set(cy.tolist())) == 1
        centres.add(int(cx[0]))
    # widths 5, 14, 9: the centre ranges over 4 + 7 .. 60 - 7, every value of it
    assert centres == set(range(11, 54))
    with pytest.raises(ValueError, match="larger than the visible range"):
        aligned_boxes(torch.tensor([[0, 0, 60, 5]]), lo=4, hi=60, generator=g)


def test_table_equals_brute_force():
    model, cfg, images, mean, boxes = _setup()
    res = correspondence_table(model, images, boxes, mean, cfg, draws=2, seed=5)
    fc7 = model.classifier_names["fc7"]
    x = to_input(images, mean, cfg).contiguous()
    fill = grey_baseline(mean, cfg)

    def feats(z):
        with torch.no_grad():
            f5 = model.features[: model.feature_names["conv5"] + 1](z).clone()
            return f5.flatten(1), model.classifier[: fc7 + 1](model.features(z).flatten(1))

    def masked(box: torch.Tensor) -> torch.Tensor:  # image boxes -> the 4-pixel-offset crop
        out = x.clone()
        for i, (x0, y0, x1, y1) in enumerate(box.tolist()):
            out[i, :, y0 - 4:y1 - 4, x0 - 4:x1 - 4] = fill[:, y0 - 4:y1 - 4, x0 - 4:x1 - 4]
        return out

    def pair_scores(eps: torch.Tensor) -> list[float]:
        s = torch.sign(eps)
        return [float((s[i] != s[j]).double().mean()) for i in range(len(s))
                for j in range(i + 1, len(s))]

    clean5, clean7 = feats(x)
    for part in PARTS:
        m5, m7 = feats(masked(boxes[part]))
        for name, eps in (("conv5", clean5 - m5), ("fc7", clean7 - m7)):
            pairs = pair_scores(eps)
            got = res["rows"][part][name]
            assert got["mean"] == pytest.approx(sum(pairs) / 10, abs=1e-9)
            assert got["std"] == pytest.approx(
                float(torch.tensor(pairs, dtype=torch.float64).std()), abs=1e-9)
            # the decomposition, by brute force over the pairs
            dec = res["decomposition"][part][name]
            assert dec["changed"] == pytest.approx(float((eps != 0).double().mean()))
            assert dec["disagree"] == pytest.approx(_disagree(eps))
    for row in ROWS:
        for name in ("conv5", "fc7"):
            assert 0 < res["rows"][row][name]["mean"] < 1
    assert "draw_std" in res["rows"]["random"]["conv5"]
    assert 0 < res["decomposition"]["random"]["fc7"]["disagree"] < 1
    # the ranks, by brute force: the random boxes drawn again with the table's seed and order
    # (the draws are the package's; masking, features and scores are computed here)
    g = torch.Generator().manual_seed(5)
    drawn = {"random": [random_boxes(boxes[p], lo=4, hi=60, generator=g) for _ in range(2)
                        for p in PARTS]}
    drawn["random_aligned"] = [aligned_boxes(boxes[p], lo=4, hi=60, generator=g)
                               for _ in range(2) for p in PARTS]

    def conv5_change(box: torch.Tensor) -> torch.Tensor:
        return clean5 - feats(masked(box))[0]

    for i, part in enumerate(PARTS):
        dec = res["decomposition"][part]["conv5"]
        eps = {c: [conv5_change(b[d * len(PARTS) + i]) for d in range(2)] for c, b in drawn.items()}
        score = [sum(pair_scores(e)) / 10 for e in eps["random"]]
        own = res["rows"][part]["conv5"]["mean"]
        assert dec["score_rank"] == sum(r <= own for r in score) / 2
        for c in drawn:
            rand = [_disagree(e) for e in eps[c]]
            assert dec[f"{c}_disagree"] == pytest.approx(rand)
            assert dec[f"{c}_disagree_rank"] == sum(r <= dec["disagree"] for r in rand) / 2
    table = decomposition_markdown(res)
    assert table.count("\n") == 1 + (len(ROWS) + 1) * 2  # parts, random, aligned; 2 layers
    right = res["decomposition"]["right_eye"]["conv5"]
    assert f"| right eye | conv5 | {right['changed']:.3f} | {right['disagree']:.3f} | " \
        f"{right['score_rank']:.2f} | {right['random_disagree_rank']:.2f} | " \
        f"{right['random_aligned_disagree_rank']:.2f} |" in table
    fig = plot_consistency(res)  # one panel per layer, each part's own value marked
    assert [a.get_title().split(":")[0] for a in fig.axes] == ["conv5", "fc7"]
    points = {tuple(np.round(o, 9)) for c in fig.axes[1].collections
              if hasattr(c, "get_offsets") for o in c.get_offsets()}
    for x, part in enumerate(PARTS):
        assert (x, round(res["decomposition"][part]["fc7"]["disagree"], 9)) in points
        assert len(res["decomposition"][part]["fc7"]["random_disagree"]) == 2
    across = models_markdown({"a": res, "b": res})
    assert across.count("\n") == 3 and f"| a | {res['rows']['right_eye']['conv5']['mean']:.3f}" \
        in across
    again = correspondence_table(model, images, boxes, mean, cfg, draws=2, seed=5)
    assert again["rows"]["random"] == res["rows"]["random"]
    assert res["paper"]["random"]["layer5"] == {"mean": 0.107, "std": 0.017}
    assert res["paper_layers"] == {"layer5": "conv5", "layer7": "fc7"}


def test_table_markdown_shows_both_stds_and_says_which_is_which():
    """Parts: mean ± std over pairs; random: also the std over draws, in brackets; a legend
    line names both. Values chosen so that every number is told apart."""
    rows = {p: {"conv5": {"mean": 0.1 + i / 100, "std": 0.01 + i / 1000},
                "fc7": {"mean": 0.2 + i / 100, "std": 0.02 + i / 1000}}
            for i, p in enumerate(PARTS)}
    rows["random"] = {"conv5": {"mean": 0.173, "std": 0.015, "draw_std": 0.009},
                      "fc7": {"mean": 0.22, "std": 0.019, "draw_std": 0.004}}
    res = {"rows": rows, "paper_layers": {"layer5": "conv5", "layer7": "fc7"}, "pairs": 10,
           "draws": 100, "paper": {r: {k: {"mean": m, "std": s} for k, (m, s) in v.items()}
                                   for r, v in PAPER_TABLE1.items()}}
    lines = table_markdown(res).split("\n")
    assert lines[2] == "| right eye | 0.100 ± 0.010 | 0.200 ± 0.020 | 0.067 ± 0.007 | " \
        "0.069 ± 0.015 |"
    assert lines[5] == "| random | 0.173 ± 0.015 (± 0.009 over draws) | " \
        "0.220 ± 0.019 (± 0.004 over draws) | 0.107 ± 0.017 | 0.073 ± 0.014 |"
    assert lines[6] == ""
    assert "standard deviation over the 10 image pairs" in lines[7]
    assert "all 100 draws pooled" in lines[7] and "over the draws" in lines[7]


def test_a_mask_outside_the_crop_changes_nothing():
    """No rounding noise: features of an unchanged input change by exactly 0 (sign 0)."""
    model, cfg, images, mean, _ = _setup()
    outside = {p: torch.tensor([[0, 0, 3, 3]] * 5) for p in PARTS}  # the crop starts at 4
    res = correspondence_table(model, images, outside, mean, cfg, draws=1)
    for part in PARTS:
        assert res["rows"][part]["conv5"]["mean"] == 0
        assert res["rows"][part]["fc7"]["mean"] == 0
        # nothing changed: every random region (inside the crop) changes more; no pair shares
        # a changed feature, so the disagreement and its rank are undefined
        dec = res["decomposition"][part]["conv5"]
        assert dec["changed"] == 0 and dec["score_rank"] == 0
        assert dec["disagree"] != dec["disagree"]
        assert dec["random_disagree_rank"] != dec["random_disagree_rank"]


def test_table_errors_and_json_round_trip(tmp_path):
    model, cfg, images, mean, boxes = _setup()
    with pytest.raises(ValueError, match="draws 0 out of range 1.."):
        correspondence_table(model, images, boxes, mean, cfg, draws=0)
    with pytest.raises(ValueError, match="at least 2 images"):
        correspondence_table(model, images[:1], boxes, mean, cfg)
    with pytest.raises(ValueError, match="'nose'"):
        correspondence_table(model, images, {p: boxes[p] for p in PARTS[:2]}, mean, cfg)
    res = correspondence_table(model, images[:2], {p: b[:2] for p, b in boxes.items()}, mean,
                               cfg, draws=1)
    save_results(res, "table1", tmp_path, profile="smoke")
    assert load_saved("table1", tmp_path)["data"] == json.loads(json.dumps(res))


def test_paper_table_and_example_boxes():
    assert set(PAPER_TABLE1) == set(ROWS)
    assert PAPER_TABLE1["right_eye"]["layer5"] == (0.067, 0.007)
    assert PAPER_TABLE1["nose"]["layer7"] == (0.069, 0.011)
    spec = json.loads(ANNOTATIONS.read_text())["images"]
    data = _fake_split([e["file"] for e in spec])
    parts = load_dog_parts(data)
    shown = example_random_boxes(parts, get_config("smoke"), image_size=64, n=4)
    assert len(shown) == 4
    assert torch.equal(shown[3][:, 2] - shown[3][:, 0],
                       parts.boxes["right_eye"][:, 2] - parts.boxes["right_eye"][:, 0])


def test_models_table_feeds_each_model_its_own_inputs():
    """A model trained on inputs at scale 1 and the same model with its first filters scaled
    by 64, fed inputs at scale 1/64, compute the same layer 5: their scores agree; the first
    fed the profile's scale would not."""
    from zflib.training.artifacts import Trained

    model, cfg, images, mean, boxes = _setup()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():  # biases, as training gives them: the scale is not factored out
        for conv in model.conv_layers():
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=g))
    own = dataclasses.replace(cfg, input_scale=1.0)
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        scaled.features[0].weight *= 64
    tables = models_table({"scale 1": Trained(model, mean, own, True),
                           "scale 1/64": Trained(scaled, mean, cfg, True)}, images, boxes,
                          draws=2)
    wrong = correspondence_table(model, images, boxes, mean, cfg, layers=("conv5",), draws=2)
    for row in ROWS:
        a, b = (tables[k]["rows"][row]["conv5"]["mean"] for k in ("scale 1", "scale 1/64"))
        assert a == pytest.approx(b, abs=1e-3)
        assert abs(a - wrong["rows"][row]["conv5"]["mean"]) > 1e-3
    assert tables["scale 1"]["layers"] == ["conv5"]


@pytest.mark.parametrize("dtype,train", [(torch.float32, True), (torch.float64, False)])
def test_training_mode_or_float64_model_equals_eval_brute_force(dtype, train):
    """A model left in training mode is scored without dropout (and its modes, the global RNG
    kept); a float64 model runs. Oracle: the nose row at fc7, by hand, in eval mode."""
    model, cfg, images, mean, boxes = _setup()
    model = model.to(dtype).train(train)
    modes = [m.training for m in model.modules()]
    rng = torch.random.get_rng_state()
    res = correspondence_table(model, images, boxes, mean, cfg, draws=1)
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.random.get_rng_state(), rng)
    model.eval()
    fc7 = model.classifier_names["fc7"]
    x = to_input(images, mean, cfg).contiguous()
    masked = mask_inputs(x, boxes["nose"], grey_baseline(mean, cfg), offset=4)
    with torch.no_grad():
        f = [model.classifier[: fc7 + 1](model.features(z.to(dtype)).flatten(1)).clone()
             for z in (torch.cat([x, masked]),)][0]
    s = torch.sign(f[:5] - f[5:])
    pairs = [float((s[i] != s[j]).double().mean()) for i in range(5) for j in range(i + 1, 5)]
    assert res["rows"]["nose"]["fc7"]["mean"] == pytest.approx(sum(pairs) / 10, abs=1e-9)


def test_fig8_shows_boxes_that_cross_the_image_border_as_the_table_masks_them():
    """Boxes crossing the stored image's top-left or bottom-right border: the figure shows,
    pixel by pixel, what the network is fed (a loop over the crop's pixels is the oracle)."""
    from zflib.viz.correspondence import plot_fig8

    g = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (2, 64, 64, 3), generator=g, dtype=torch.uint8)
    box = torch.tensor([[-3, -2, 9, 7], [58, 55, 70, 66]])
    boxes = {p: box for p in PARTS}
    fig = plot_fig8(images, boxes, [], fill=(1, 2, 3), crop=56)
    for i in range(2):
        want = images[i, 4:60, 4:60].clone()
        x0, y0, x1, y1 = box[i].tolist()
        for r in range(56):
            for c in range(56):
                if y0 <= r + 4 < y1 and x0 <= c + 4 < x1:
                    want[r, c] = torch.tensor([1, 2, 3])
        shown = np.asarray(fig.axes[i * (1 + len(PARTS)) + 1].images[0].get_array())
        assert np.array_equal(shown, want.numpy())
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_empty_or_malformed_boxes_raise():
    """(x, y, w, h) boxes read as (x0, y0, x1, y1) can be empty: nothing was masked and the
    part scored a perfect 0; [N, 2] boxes ended in an IndexError."""
    model, cfg, images, mean, boxes = _setup()
    xywh = {**boxes, "nose": torch.tensor([[30, 30, 10, 8]] * 5)}
    with pytest.raises(ValueError, match=r"nose box \[30, 30, 10, 8\] is empty: want "
                                         r"\(x0, y0, x1, y1\) with x0 < x1, y0 < y1"):
        correspondence_table(model, images, xywh, mean, cfg, draws=1)
    with pytest.raises(ValueError, match=r"boxes\['left_eye'\] of shape \(5, 2\); want \[5, 4\]"):
        correspondence_table(model, images, {**boxes, "left_eye": boxes["left_eye"][:, :2]},
                             mean, cfg, draws=1)


def test_one_layer_given_alone():
    """``layers="conv5"`` is the layer conv5, not the layers "c", "o", ...; none is refused."""
    model, cfg, images, mean, boxes = _setup()
    one = correspondence_table(model, images, boxes, mean, cfg, layers="conv5", draws=2)
    ref = correspondence_table(model, images, boxes, mean, cfg, layers=("conv5",), draws=2)
    assert one["layers"] == ["conv5"] and one == ref
    with pytest.raises(ValueError, match="layers is empty"):
        correspondence_table(model, images, boxes, mean, cfg, layers=(), draws=2)


def test_boxes_are_scaled_with_the_images_to_256_pixels():
    from zflib.methods.correspondence import box_scale

    files = [e["file"] for e in json.loads(ANNOTATIONS.read_text())["images"]]
    at64 = load_dog_parts(_fake_split(files))
    small = _fake_split(files)
    big = dataclasses.replace(small, images=torch.zeros(5, 256, 256, 3, dtype=torch.uint8))
    at256 = load_dog_parts(big)
    for p in PARTS:
        assert torch.equal(at256.boxes[p], 4 * at64.boxes[p])
    # a box covers the same pixels of the resized image as of the 64-pixel one: pixel i of 64
    # becomes pixels 4i..4i+3 of 256 (bicubic resize, half-pixel centres)
    from zflib.data.transforms import resize

    x0, y0, x1, y1 = at64.boxes["nose"][0].tolist()
    img = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    img[0, y0:y1, x0:x1] = 255
    up = resize(img, 256)[0, ..., 0].float()
    X0, Y0, X1, Y1 = at256.boxes["nose"][0].tolist()
    assert up[Y0 + 2:Y1 - 2, X0 + 2:X1 - 2].min() > 200
    assert up[:Y0 - 2].max() < 40 and up[Y1 + 2:].max() < 40
    assert box_scale("image64", 64) == 1 and box_scale("image64", 256) == 4
    with pytest.raises(ValueError, match="no whole multiple"):
        box_scale("image64", 100)
    with pytest.raises(ValueError, match="coordinates 'pixels' not valid"):
        box_scale("pixels", 256)


def test_load_dogs_resizes_only_the_dogs_as_load_split_would(monkeypatch):
    from zflib.data.transforms import resize
    from zflib.methods import correspondence

    files = [e["file"] for e in json.loads(ANNOTATIONS.read_text())["images"]]
    split = _fake_split(["val_1.JPEG", files[2], "val_3.JPEG", *files[:2], *files[3:]])
    asked = []

    def fake_load_split(cfg, name):
        asked.append((cfg.image_size, cfg.val_limit, name))
        return split

    monkeypatch.setattr(correspondence, "load_split", fake_load_split)
    dogs = correspondence.load_dogs(get_config("full224", val_limit=0))
    assert asked == [(64, 0, "val")]  # the split at its own 64 pixels
    keep = [1, 3, 4, 5, 6]
    assert dogs.images.shape == (5, 256, 256, 3) and dogs.paths == [split.paths[i] for i in keep]
    assert torch.equal(dogs.images, resize(split.images, 256)[keep])  # as the whole split
    parts = load_dog_parts(dogs)
    assert torch.equal(parts.boxes["nose"], 4 * load_dog_parts(split).boxes["nose"])
    same = correspondence.load_dogs(get_config("smoke", val_limit=0))  # 64 pixels: unchanged
    assert torch.equal(same.images, split.images[keep])


# --- natural-resolution dogs (issue 34): boxes in the 224 centre crop of Imagewoof2's images

NATURAL = ANNOTATIONS.with_name("dog_parts_natural.json")


def _natural_split(extra: tuple[str, ...] = ()) -> ImageSet:
    """Imagewoof2's validation split as load_imagewoof gives it at 256 pixels: the five
    annotated files (in another order, between others)."""
    files = [e["file"] for e in json.loads(NATURAL.read_text())["images"]]
    paths = [*extra, *files[::-1], "val/n02086240/other.JPEG"]
    g = torch.Generator().manual_seed(1)
    return ImageSet(torch.randint(0, 256, (len(paths), 256, 256, 3), generator=g,
                                  dtype=torch.uint8),
                    torch.zeros(len(paths), dtype=torch.long), ["n0"], ["dog"], paths)


def test_crop224_boxes_are_shifted_into_the_stored_256_pixel_image():
    from zflib.methods.correspondence import box_offset, box_scale, crop_side

    spec = json.loads(NATURAL.read_text())["images"]
    data = _natural_split(("val/n02099601/x.JPEG",))
    parts = load_dog_parts(data, NATURAL)
    assert [data.paths[i] for i in parts.index.tolist()] == [e["file"] for e in spec]
    for p in PARTS:  # pixel i of the 224 crop is pixel i + 16 of the 256 image
        assert parts.boxes[p].tolist() == [[v + 16 for v in e["boxes"][p]] for e in spec]
    # masking the stored box in the network's input (the centre crop, offset 16) covers
    # exactly the annotated crop pixels
    cfg = get_config("full224")
    x = torch.zeros(1, 3, 224, 224)
    masked = mask_inputs(x, parts.boxes["nose"][:1], torch.ones(3, 224, 224), offset=16)
    x0, y0, x1, y1 = spec[0]["boxes"]["nose"]
    want = torch.zeros(224, 224)
    want[y0:y1, x0:x1] = 1
    assert torch.equal(masked[0, 0], want) and cfg.crop_size == 224
    assert (box_scale("crop224", 256), box_offset("crop224", 256)) == (1, 16)
    assert (box_offset("crop56", 64), box_offset("image64", 256), crop_side(224)) == (4, 0, 256)
    with pytest.raises(ValueError, match="fit stored images of 256 pixels, not 64; valid: 256"):
        box_offset("crop224", 64)  # a 64-pixel profile cannot use these boxes
    with pytest.raises(ValueError, match="fit stored images of 256 pixels, not 320"):
        box_scale("crop224", 320)
    with pytest.raises(ValueError, match="crop 100 is no centre crop"):
        box_offset("crop100", 256)
    with pytest.raises(ValueError, match="'cropx' not valid"):
        box_offset("cropx", 256)
    with pytest.raises(ValueError, match="coordinates 'pixels' not valid"):
        box_offset("pixels", 256)


def test_dog_files_and_their_dataset_follow_the_profile():
    from zflib.methods import correspondence as C

    assert C.dog_files(get_config("full")) == [ANNOTATIONS, MORE_DOGS]
    assert C.dog_files(get_config("full224")) == [NATURAL] == [C.NATURAL_DOGS]
    assert C.dog_dataset([ANNOTATIONS, MORE_DOGS]) == "tiny-imagenet"
    assert C.dog_dataset(NATURAL) == "imagewoof2"
    with pytest.raises(ValueError, match="datasets .'imagewoof2', 'tiny-imagenet'.; want one"):
        C.dog_dataset([ANNOTATIONS, NATURAL])
    with pytest.raises(ValueError, match=r"dog_parts \['nope.json'\] not in zflib/annotations; "
                                         "valid: dog_parts.json, dog_parts_more.json, "
                                         "dog_parts_natural.json"):
        C.dog_files(get_config("full", dog_parts=("nope.json",)))
    with pytest.raises(ValueError, match="dog_parts is empty"):
        C.dog_files(get_config("full", dog_parts=()))


def test_load_dogs_reads_imagewoof2_for_natural_annotations(monkeypatch):
    from zflib.methods import correspondence as C

    split = _natural_split(("val/n02099601/x.JPEG",))
    asked = []

    def fake_load_imagewoof(name, size):
        asked.append((name, size))
        return split

    monkeypatch.setattr(C, "load_imagewoof", fake_load_imagewoof)
    monkeypatch.setattr(C, "load_split", lambda *a: pytest.fail("Tiny ImageNet loaded"))
    cfg = get_config("full224")
    dogs = C.load_dogs(cfg, C.dog_files(cfg))
    assert asked == [("val", 256)] and len(dogs) == 5
    assert dogs.paths == split.paths[1:6] and torch.equal(dogs.images, split.images[1:6])
    parts = load_dog_parts(dogs, C.dog_files(cfg)[0])
    assert parts.names == [e["name"] for e in json.loads(NATURAL.read_text())["images"]]
