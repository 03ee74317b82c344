"""Transfer and feature analysis: classifiers against scikit-learn, splits and scores against
brute force and hand-computed values, features against a direct forward pass."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from sklearn.svm import LinearSVC
from torch import nn

from zflib.config import get_config
from zflib.data.common import ImageSet
from zflib.methods import transfer as T
from zflib.paper import scratch as S
from zflib.results import load_saved, save_results
from zflib.training.models import build_model

torch.set_num_threads(1)


def _blobs(n_per_class=20, k=3, d=5, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (k, d))
    x = np.concatenate([centres[c] + rng.normal(0, 1, (n_per_class, d)) for c in range(k)])
    y = np.repeat(np.arange(k), n_per_class)
    return x, y


# --- classifiers --------------------------------------------------------------------------------

def test_softmax_matches_sklearn_logistic_regression():
    x, y = _blobs()
    w, b = T.fit_softmax(torch.tensor(x), y, num_classes=3, c=0.5, max_iter=500, tol=1e-10)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(x, y)
    assert np.allclose(w.numpy().T, ref.coef_, atol=1e-4)
    b = b.numpy()  # softmax is invariant to a common shift of the biases
    assert np.allclose(b - b.mean(), ref.intercept_ - ref.intercept_.mean(), atol=1e-4)
    probs = torch.softmax(torch.tensor(x) @ w + torch.tensor(b), 1).numpy()
    assert np.allclose(probs, ref.predict_proba(x), atol=1e-5)


def test_squared_hinge_matches_sklearn_linear_svc():
    x, y = _blobs(k=4, seed=1)
    w, b = T.fit_linear(torch.tensor(x), y, num_classes=4, loss="squared_hinge", c=0.05,
                        max_iter=500, tol=1e-10)
    # intercept_scaling 1000 makes LinearSVC's penalty on the bias negligible, as here; the
    # primal (Newton) solver copes with that scaling, the dual one does not converge
    ref = LinearSVC(C=0.05, tol=1e-12, max_iter=100_000, intercept_scaling=1000,
                    dual=False).fit(x, y)
    assert np.allclose(w.numpy().T, ref.coef_, atol=2e-3)
    assert np.allclose(b.numpy(), ref.intercept_, atol=2e-3)
    ours = T.fit_predict(x, y, x, classifier="svm", c=0.05, num_classes=4, max_iter=500)
    theirs = T.fit_predict(x, y, x, classifier="svm-sklearn", c=0.05, num_classes=4)
    assert (ours.argmax(1) == theirs.argmax(1)).mean() > 0.95  # bias penalised there


def test_fit_predict_absent_class_and_errors():
    x, y = _blobs(k=2)
    scores = T.fit_predict(x, y, x[:3], classifier="svm-sklearn", c=1.0, num_classes=3)
    assert scores.shape == (3, 3) and np.isinf(scores[:, 2]).all()
    with pytest.raises(ValueError, match="classifier 'tree' not valid"):
        T.fit_predict(x, y, x, classifier="tree", c=1.0, num_classes=2)
    with pytest.raises(ValueError, match=r"labels 0..1 out of range 0..0"):
        T.fit_softmax(x, y, num_classes=1)
    with pytest.raises(ValueError, match="c -1 out of range"):
        T.fit_softmax(x, y, num_classes=2, c=-1)


def test_scale_features_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    tr, te = rng.normal(3, 2, (50, 4)), rng.normal(0, 1, (10, 4))
    tr[:, 1] = 7.0  # constant column: divided by 1, not 0
    a, b = T.scale_features(tr, te)
    assert np.allclose(a[:, [0, 2, 3]].mean(0), 0, atol=1e-5)
    assert np.allclose(a[:, [0, 2, 3]].std(0), 1, atol=1e-4)
    assert np.allclose(a[:, 1], 0) and np.allclose(b[:, 1], te[:, 1] - 7.0)
    assert np.allclose(b[:, 0], (te[:, 0] - tr[:, 0].mean()) / tr[:, 0].std(), atol=1e-5)
    a, _ = T.scale_features(tr, te, scaling="l2")
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-6)
    with pytest.raises(ValueError, match="scaling 'z' not valid"):
        T.scale_features(tr, te, scaling="z")


# --- splits and scores --------------------------------------------------------------------------

def test_make_splits_are_nested_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), [40, 12, 31, 80])
    splits = T.make_splits(labels, reserve=10, test_per_class=50, splits=3, seed=5)
    for s in splits:
        full = s.train(10)
        assert np.array_equal(np.bincount(labels[full]), [10, 10, 10, 10])
        assert set(s.train(3)) <= set(full) and len(s.train(3)) == 12
        assert not set(full) & set(s.test)
        assert np.array_equal(np.bincount(labels[s.test]), [30, 2, 21, 50])  # up to 50
        assert len(set(s.test)) == len(s.test)
    assert not np.array_equal(splits[0].test, splits[1].test)
    again = T.make_splits(labels, reserve=10, test_per_class=50, splits=3, seed=5)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again, strict=True))
    with pytest.raises(ValueError, match="training images per class 11 out of range 1..10"):
        splits[0].train(11)
    with pytest.raises(ValueError, match=r"classes \[1\] have 12 images or fewer"):
        T.make_splits(labels, reserve=12)


def test_mean_class_accuracy():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 0, 1, 1, 0, 0])
    assert T.mean_class_accuracy(y, p) == pytest.approx((3 / 4 + 1 / 2 + 0) / 3)
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 7, 300), rng.integers(0, 7, 300)
    assert T.mean_class_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


def test_summarize():
    s = T.summarize([0.5, 0.7])
    assert s["mean"] == pytest.approx(60.0) and s["std"] == pytest.approx(np.sqrt(200.0))
    assert T.summarize([0.25])["std"] == 0.0


def test_accuracy_curve_separable_blobs():
    x, y = _blobs(n_per_class=40, k=3, d=6, spread=6.0)
    splits = T.make_splits(y, reserve=10, test_per_class=20, splits=2)
    curve = T.accuracy_curve(x, y, splits, [1, 10], classifier="softmax", c=1.0)
    assert set(curve) == {1, 10} and len(curve[10]["runs"]) == 2
    assert curve[10]["mean"] > 95.0
    svm = T.accuracy_curve(x, y, splits, [10], classifier="svm", c=0.01)
    assert svm[10]["mean"] > 95.0


def test_cached_curve_equals_a_fresh_fit_and_misses_on_any_change(zf_home, monkeypatch):
    x, y = _blobs(n_per_class=30, k=3, d=6, spread=1.0)
    splits = T.make_splits(y, reserve=10, test_per_class=15, splits=2)
    fit = dict(classifier="softmax", c=1.0)
    want = T.accuracy_curve(x, y, splits, [2, 10], **fit)
    first: list[dict] = []
    assert T.accuracy_curve(x, y, splits, [2, 10], cache=True, ledger=first, **fit) == want
    entries = list((zf_home / "cache" / "classifiers").glob("*.json"))
    assert len(entries) == 1
    calls = []
    real = T.split_score
    monkeypatch.setattr(T, "split_score", lambda *a, **k: calls.append(1) or real(*a, **k))
    again: list[dict] = []
    assert T.accuracy_curve(x, y, splits, [2, 10], cache=True, ledger=again, **fit) == want
    assert calls == []  # read back, nothing refitted
    # the ledger gives the fits' own seconds both times, and says which call read them back
    assert first[0]["cached"] is False and again == [{"seconds": first[0]["seconds"],
                                                       "cached": True}]
    # another C, other features, other splits: each a new fit, each as a fresh one gives
    x2 = x.copy()
    x2[0, 0] += 1.0
    other = T.make_splits(y, reserve=10, test_per_class=15, splits=2, seed=1)
    for args, kw in (((x, y, splits), {"c": 0.01}), ((x2, y, splits), {}),
                     ((x, y, other), {})):
        got = T.accuracy_curve(*args, [2, 10], cache=True, **{**fit, **kw})
        assert got == T.accuracy_curve(*args, [2, 10], **{**fit, **kw})
    assert len(list((zf_home / "cache" / "classifiers").glob("*.json"))) == 4
    entries[0].write_text("{torn")  # a corrupt entry is refitted and rewritten
    assert T.accuracy_curve(x, y, splits, [2, 10], cache=True, **fit) == want
    assert json.loads(entries[0].read_text())["curve"]["10"] == want[10]



def test_fits_show_their_progress_which_never_enters_the_cache_key(zf_home, monkeypatch,
                                                                   capsys):
    monkeypatch.delenv("TQDM_DISABLE")  # the suite turns bars off (conftest)
    x, y = _blobs(n_per_class=30, k=3, d=6, spread=1.0)
    splits = T.make_splits(y, reserve=10, test_per_class=15, splits=2)
    shown = T.accuracy_curve(x, y, splits, [2, 10], classifier="softmax", c=1.0, cache=True)
    err = capsys.readouterr().err
    assert "softmax fits" in err and "4/4" in err  # 2 sizes x 2 splits
    quiet = T.accuracy_curve(x, y, splits, [2, 10], classifier="softmax", c=1.0, cache=True,
                             progress=False)
    assert quiet == shown and capsys.readouterr().err == ""
    assert len(list((zf_home / "cache" / "classifiers").glob("*.json"))) == 1  # one entry
    table = T.layer_table({"a": x, "b": x}, y, splits, size=10, layers=["a", "b"],
                          classifiers={"softmax": 1.0})
    assert table["softmax"]["a"] == table["softmax"]["b"]
    assert "fits per layer" in capsys.readouterr().err


# --- features -----------------------------------------------------------------------------------

def test_pool_features_grid3_is_pool5():
    torch.manual_seed(0)
    act = torch.randn(2, 5, 7, 7)
    pool5 = nn.MaxPool2d(3, 2, ceil_mode=True)(act).flatten(1)  # ZFNet-64's 7x7 -> 3x3
    assert torch.equal(T.pool_features(act, grid=3), pool5)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert T.pool_features(x, grid=2).tolist() == [[5.0, 7.0, 13.0, 15.0]]
    assert torch.equal(T.pool_features(act[:, :, 0, 0]), act[:, :, 0, 0])
    with pytest.raises(ValueError, match="grid 8 out of range 1..7"):
        T.pool_features(act, grid=8)


def _tiny_model():
    torch.manual_seed(0)
    return build_model("zfnet", num_classes=5, size=64, init="kaiming")


def test_layer_features_match_direct_forward():
    cfg = get_config("smoke")
    model = _tiny_model().train()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8, generator=g)
    mean = torch.full((3, 64, 64), 100.0)
    feats = T.layer_features(model, images, mean, cfg, layers=["conv1", "conv5", "fc7"],
                             batch_size=2)
    assert model.training  # mode restored
    assert not any(m._forward_hooks for m in model.modules())
    model.eval()
    with torch.no_grad():
        x = ((images.permute(0, 3, 1, 2).float() - mean) / 64)[:, :, 4:60, 4:60]
        fc7 = model.classifier[:6](torch.flatten(model.features(x), 1))
        conv1 = model.features[:2](x)
        conv5 = model.features[: model.feature_names["conv5"] + 1](x)  # before pool5
    assert feats["fc7"].dtype == np.float16 and feats["fc7"].shape == (3, 4096)
    assert np.allclose(feats["fc7"], fc7.numpy(), rtol=2e-3, atol=2e-3)
    assert feats["conv1"].shape == (3, 96 * 9)
    assert np.allclose(feats["conv1"], T.pool_features(conv1).numpy(), rtol=2e-3, atol=2e-3)
    assert feats["conv5"].shape == (3, 256 * 9)
    # conv5's 7x7 maps max-pooled to 3x3 as pool5 does (3x3 windows, stride 2, ceil mode)
    pool5 = nn.MaxPool2d(3, 2, ceil_mode=True)(conv5).flatten(1)
    assert conv5.shape[-2:] == (7, 7) and pool5.abs().max() > 0
    assert np.allclose(feats["conv5"], pool5.numpy(), rtol=2e-3, atol=2e-3)


def test_cached_features(tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_HOME", str(tmp_path))
    cfg = get_config("smoke")
    model = _tiny_model().eval()
    images = torch.zeros(2, 64, 64, 3, dtype=torch.uint8)
    mean = torch.zeros(3, 64, 64)
    first = T.cached_features(model, images, mean, cfg, layers=["fc6"], name="t")
    second = T.cached_features(model, images, mean, cfg, layers=["fc6"], name="t")
    assert not first.cached and second.cached
    assert np.array_equal(first.layers["fc6"], second.layers["fc6"])
    with torch.no_grad():
        model.classifier[1].bias.add_(1.0)  # new weights: a new key, no stale features
    third = T.cached_features(model, images, mean, cfg, layers=["fc6"], name="t")
    assert not third.cached
    images[1, 5, 5, 0] = 1  # one pixel of one image rewritten: extracted again
    assert not T.cached_features(model, images, mean, cfg, layers=["fc6"], name="t").cached
    assert T.cached_features(model, images, mean, cfg, layers=["fc6"], name="t").cached


# --- the non-pretrained baseline and the experiments --------------------------------------------

def _toy_set(k=3, per_class=6):
    g = torch.Generator().manual_seed(0)
    colors = torch.tensor([[230, 20, 20], [20, 230, 20], [20, 20, 230], [200, 200, 20]])[:k]
    labels = torch.arange(k).repeat_interleave(per_class)
    noise = torch.randint(0, 20, (k * per_class, 64, 64, 3), generator=g)
    images = (colors[labels][:, None, None, :] + noise).clamp(0, 255).to(torch.uint8)
    names = [f"c{i}" for i in range(k)]
    return ImageSet(images, labels, names, names, [f"{i}.jpg" for i in range(len(labels))])


def test_steps_for_is_epochs_times_batches():
    assert S.steps_for(1530, 40, 128) == 479  # 61,200 images / 128 = 478.1, rounded up
    assert S.steps_for(3060, 40, 128) == 957  # twice the data, twice the steps
    assert S.steps_for(102, 2, 128) == 2  # fewer images than a batch: whole-set steps
    assert S.steps_for(10, 0.01, 4) == 1
    with pytest.raises(ValueError, match="epochs > 0"):
        S.steps_for(10, 0, 4)


def test_train_scratch_is_deterministic():
    cfg = get_config("smoke")
    data = _toy_set()
    a, mean_a = S.train_scratch(data.images, data.labels, cfg, num_classes=3, steps=2,
                                batch_size=4, seed=3)
    b, _ = S.train_scratch(data.images, data.labels, cfg, num_classes=3, steps=2,
                           batch_size=4, seed=3)
    assert not a.training
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert torch.allclose(mean_a, data.images.double().mean(0).permute(2, 0, 1).float())
    assert S.predict_centre(a, data.images, mean_a, cfg).shape == (18,)


def _baseline_settings(**kw):
    base = dict(splits=2, scratch_splits=2, test_per_class=3, scratch_sizes=(1, 2),
                scratch_epochs=1, scratch_batch_size=4)
    return T.transfer_settings("smoke", **{**base, **kw})


def test_baseline_runs_match_direct_training_and_resume(zf_home):
    cfg = get_config("smoke")
    data = _toy_set()
    s = _baseline_settings()
    out = S.run_baseline(data, cfg, s, progress=False)
    assert [(r["split"], r["n"]) for r in out["runs"]] == [(0, 2), (1, 2), (0, 1), (1, 1)]
    # every run is what train_scratch gives on that split, with its documented seed, from the
    # pretrained config with conv1 initialised as the settings say (Kaiming: 0, not cfg's 1e-2)
    base = S.scratch_config(cfg, s)
    assert cfg.first_layer_std == 0.01 and base.first_layer_std == s.scratch_first_layer_std == 0
    splits = T.table4_splits(data.labels, s)
    labels = data.labels.numpy()
    for r in out["runs"]:
        split, n = splits[r["split"]], r["n"]
        tr = torch.as_tensor(split.train(n))
        assert r["steps"] == S.steps_for(len(tr), 1, 4)
        model, mean = S.train_scratch(data.images[tr], data.labels[tr], base, num_classes=3,
                                      steps=r["steps"], batch_size=4, seed=1000 * r["split"] + n)
        pred = S.predict_centre(model, data.images[torch.as_tensor(split.test)], mean, base)
        assert r["accuracy"] == T.mean_class_accuracy(labels[split.test], pred)
    for n in (1, 2):
        assert out["scratch"][n]["runs"] == [100 * r["accuracy"] for r in out["runs"]
                                             if r["n"] == n]
    # a killed job resumes: finished runs are reused, a missing one is trained again
    state = zf_home / "cache" / f"scratch-runs-{S.run_key(data, base, s)}"
    (state / "run-1-1.json").unlink()
    again = S.run_baseline(data, cfg, s, progress=False)
    assert again["reused_runs"] == 3 and again["scratch"] == out["scratch"]
    # other settings: another key, nothing reused
    other = S.run_baseline(data, cfg, _baseline_settings(scratch_lr=1e-3), progress=False)
    assert other["key"] != out["key"] and other["reused_runs"] == 0


def test_more_sizes_or_splits_train_only_the_new_runs(zf_home):
    cfg = get_config("smoke")
    data = _toy_set()
    one = S.run_baseline(data, cfg, _baseline_settings(scratch_sizes=(2,), scratch_splits=1),
                         progress=False)
    both = S.run_baseline(data, cfg, _baseline_settings(), progress=False)
    assert both["reused_runs"] == 1 and one["key"] != both["key"]
    assert [r for r in both["runs"] if (r["split"], r["n"]) == (0, 2)] == one["runs"]
    # a larger size moves the splits' reserve: the runs are not the same, nothing is reused
    wider = S.run_baseline(data, cfg, _baseline_settings(scratch_sizes=(1, 2, 3)),
                           progress=False)
    assert wider["reused_runs"] == 0
    # 3 per class is outside Table 4's sizes (1, 2 in smoke): on scratch_curve_splits (1) only
    assert [(r["split"], r["n"]) for r in wider["runs"]] == [(0, 3), (0, 2), (1, 2), (0, 1),
                                                            (1, 1)]
    assert len(wider["scratch"][3]["runs"]) == 1 and wider["scratch"][3]["std"] == 0


def test_reusable_runs_of_an_artifact_trained_alike(zf_home, tmp_path, monkeypatch):
    cfg = get_config("smoke")
    data = _toy_set()
    fewer = _baseline_settings(scratch_sizes=(2,))
    out = S.run_baseline(data, cfg, fewer, resume=False, progress=False)
    save_results({"settings": {f: getattr(fewer, f) for f in S.KEY_FIELDS}, **out}, "base",
                 tmp_path, profile="smoke")  # as python -m zflib.paper.scratch writes it
    path = tmp_path / "base.json"
    assert S.reusable_runs(path, data, cfg, _baseline_settings()) == out["runs"]
    more = S.run_baseline(data, cfg, _baseline_settings(), resume=False, progress=False,
                          reuse=S.reusable_runs(path, data, cfg, _baseline_settings()))
    assert more["reused_runs"] == 2 and more["scratch"][2] == out["scratch"][2]
    # written before scratch_curve_splits joined the key (the 15 and 30 per class of the
    # committed baseline): keyed over the fields it records, its runs still count
    saved = json.loads(path.read_text())
    del saved["data"]["settings"]["scratch_curve_splits"]
    for r in saved["data"]["runs"]:  # nor did its runs name their machine: the file's is theirs
        del r["machine"]
    fields = tuple(f for f in S.KEY_FIELDS if f != "scratch_curve_splits")
    saved["data"]["key"] = S.baseline_key(data, S.scratch_config(cfg, fewer), fewer, fields=fields)
    (tmp_path / "old.json").write_text(json.dumps(saved))
    assert S.reusable_runs(tmp_path / "old.json", data, cfg, _baseline_settings()) == out["runs"]
    # a profile with no baseline of its own trains only the runs no committed one has
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "artifacts"))
    S.artifact_path("full").parent.mkdir(parents=True)
    path.rename(S.artifact_path("full"))
    auto = S.baseline(data, cfg, _baseline_settings(), profile="smoke")
    assert auto["reused_runs"] == 2 and auto["scratch"][2] == out["scratch"][2]
    path = S.artifact_path("full")
    # trained otherwise (another rate), or another dataset's labels, or no file: none
    assert S.reusable_runs(path, data, cfg, _baseline_settings(scratch_lr=1e-3)) == []
    other = _toy_set()
    other.labels = other.labels.flip(0)
    assert S.reusable_runs(path, other, cfg, _baseline_settings()) == []
    assert S.reusable_runs(tmp_path / "none.json", data, cfg, _baseline_settings()) == []


def test_baseline_workers_give_the_same_result(zf_home):
    cfg = get_config("smoke")
    data = _toy_set()
    s = _baseline_settings()
    one = S.run_baseline(data, cfg, s, resume=False, progress=False)
    two = S.run_baseline(data, cfg, s, workers=2, resume=False, progress=False)
    assert two["scratch"] == one["scratch"]
    with pytest.raises(ValueError, match="workers 0 out of range 1.."):
        S.run_baseline(data, cfg, s, workers=0)


def test_baseline_sources(zf_home, tmp_path, monkeypatch):
    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "artifacts"))
    cfg = get_config("smoke")
    data = _toy_set()
    s = _baseline_settings()
    assert S.baseline(data, cfg, s, profile="smoke", source="none") is None
    trained = S.baseline(data, cfg, s, profile="smoke")  # auto, nothing committed: trains
    assert trained["source"] == "trained"
    path = S.artifact_path("smoke")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**trained, "scratch": {"1": {"mean": 50.0, "std": 0.0,
                                                             "runs": [50.0]}}}))
    committed = S.baseline(data, cfg, s, profile="smoke")  # auto: the matching artifact
    assert committed["source"] == str(path) and committed["scratch"] == {
        1: {"mean": 50.0, "std": 0.0, "runs": [50.0]}}
    # committed with other settings: trained here instead
    assert S.baseline(data, cfg, _baseline_settings(scratch_epochs=2),
                      profile="smoke")["source"] == "trained"
    assert S.baseline(data, cfg, s, profile="smoke", source=str(path))["scratch"][1]["mean"] == 50
    # auto also finds another profile's artifact trained with these settings
    path.rename(S.artifact_path("full"))
    assert S.baseline(data, cfg, s, profile="smoke")["source"] == str(S.artifact_path("full"))


def test_run_table4_and_table7_end_to_end(tmp_path):
    cfg = get_config("smoke")
    data = _toy_set(k=3, per_class=6)
    s = T.transfer_settings("smoke", test_per_class=3, scratch_epochs=1, scratch_batch_size=4,
                            layers=("conv1", "fc7"))
    model = _tiny_model().eval()
    feats = T.FeatureSet(T.layer_features(model, data.images, torch.zeros(3, 64, 64), cfg,
                                          layers=s.layers), 1.0, False)
    t4 = T.run_table4(feats, data, cfg, s, scratch=S.run_baseline(data, cfg, s, resume=False))
    assert set(t4["pretrained"]) == {1, 2} and set(t4["scratch"]) == {2}
    assert t4["pretrained"][2]["mean"] > 90.0  # three flat colours: trivially separable
    t7 = T.run_table7(feats, data, cfg, s)
    assert set(t7["layers"]) == {"svm", "softmax"} and set(t7["layers"]["svm"]) == {"conv1", "fc7"}
    # Table 7 on the first of two splits is the two-split table's first run
    two = dataclasses.replace(s, splits=2)
    first = T.run_table7(feats, data, cfg, dataclasses.replace(two, layer_splits=1))["layers"]
    both = T.run_table7(feats, data, cfg, two)["layers"]
    assert len(both["svm"]["fc7"]["runs"]) == 2 and first["svm"]["fc7"]["runs"] == \
        both["svm"]["fc7"]["runs"][:1]
    assert t7["dims"] == {"conv1": 864, "fc7": 4096}
    assert t7["paper"]["svm:conv5"] == (86.2, 0.8)
    save_results(t4, "t4", tmp_path / "r", profile="smoke")
    back = load_saved("t4", tmp_path / "r")["data"]
    assert S.load_baseline(tmp_path / "r" / "t4.json")["scratch"] == t4["scratch"]
    assert back["pretrained"]["2"]["mean"] == pytest.approx(t4["pretrained"][2]["mean"])
    assert back["paper"]["Non-pretrained convnet"]["30"] == [46.5, 1.7]


def test_transfer_settings():
    assert T.transfer_settings("full").splits == 5
    assert T.transfer_settings("smoke").per_class_limit == 5
    with pytest.raises(ValueError, match=r"unknown transfer setting\(s\) \['split'\]"):
        T.transfer_settings("full", split=3)
    with pytest.raises(ValueError, match="scratch_splits 6 out of range 1..5"):
        T.transfer_settings("full", scratch_splits=6)
    with pytest.raises(ValueError, match=r"scratch_curve_splits 3 out of range 1..2 \(scratch_"):
        T.transfer_settings("full", scratch_splits=2, scratch_curve_splits=3)
    with pytest.raises(ValueError, match="scratch_epochs 0 out of range: must be > 0"):
        T.transfer_settings("full", scratch_epochs=0)
    with pytest.raises(ValueError, match=r"layer_splits 6 out of range 0..5 \(0: all\)"):
        T.transfer_settings("full", layer_splits=6)
    assert (T.transfer_settings("lab").layer_splits, T.transfer_settings("full").layer_splits) == \
        (2, 0)
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        T.transfer_settings("fast")


# --- PASCAL VOC ---------------------------------------------------------------------------------

def test_voc_ap_hand_computed():
    # ranking: TP, FP, TP, FP; precision 1, 1/2, 2/3, 1/2 at recall 1/2, 1/2, 1, 1
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95])
    targets = np.array([1, -1, 1, -1, 0])  # the difficult top-scorer is ignored
    assert T.voc_ap(scores, targets) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # precision made monotone: TP, FP, FP, TP, TP -> 1/2 * 1 + 1/2 * 3/5 (not 1/2)
    assert T.voc_ap(np.arange(5.0)[::-1], np.array([1, -1, -1, 1, 1])) == pytest.approx(
        1 / 3 + 2 / 3 * 3 / 5)
    rng = np.random.default_rng(0)
    s, t = rng.random(200), np.where(rng.random(200) < 0.3, 1, -1)
    assert T.voc_ap(s, t) >= average_precision_score(t == 1, s) - 1e-12
    with pytest.raises(ValueError, match="no positive"):
        T.voc_ap(s, -np.ones(200))


def test_voc_ap_matches_brute_force_all_point_ap():
    """Oracle: precision and recall at every score threshold, precision made monotone as the
    best precision at any recall at least as high, summed over the recall increments."""
    def brute(s, t):
        s, t = s[t != 0], t[t != 0]
        pts = [((t[s >= x] == 1).sum() / (t == 1).sum(), (t[s >= x] == 1).mean()) for x in s]
        rec = np.array([r for r, _ in pts])
        prec = np.array([p for _, p in pts])
        levels = np.unique(np.concatenate([[0.0], rec]))
        return sum((r1 - r0) * prec[rec >= r1].max()
                   for r0, r1 in zip(levels[:-1], levels[1:], strict=True))

    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(2, 40))
        s, t = rng.permutation(n).astype(float), rng.choice([-1, 0, 1], n)  # no ties
        if (t == 1).any():
            assert T.voc_ap(s, t) == pytest.approx(brute(s, t), abs=1e-12)


def test_run_voc_multilabel_pairs():
    x, y = _blobs(n_per_class=20, k=3, d=4, spread=6.0)
    targets = -np.ones((60, 3), dtype=np.int8)
    targets[np.arange(60), y] = 1
    targets[0, 1] = 0  # difficult: trains as class 1 too, ignored in AP
    res = T.run_voc(x, targets, x, targets, c=1.0, classes=["a", "b", "c"])
    assert set(res["ap"]) == {"a", "b", "c"} and res["mean_ap"] > 95.0
    assert res["paper_mean_ap"]["ImageNet-pretrained convnet"] == 79.0


def test_caltech256_and_voc_trees_run_through_transfer(tmp_path, monkeypatch):
    """The Table 5 and Table 6 paths on synthetic trees of the official layouts."""
    from PIL import Image

    from zflib.data.caltech import load_caltech256
    from zflib.data.voc import VOC_CLASSES, load_voc2012
    from zflib.viz.transfer import table4_markdown

    monkeypatch.setenv("ZF_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    for c, color in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250)]):
        folder = tmp_path / "256_ObjectCategories" / f"00{c + 1}.class{c}"
        folder.mkdir(parents=True)
        for i in range(4):
            arr = np.clip(np.array(color) + rng.integers(0, 30, (40, 60, 3)), 0, 255)
            Image.fromarray(arr.astype(np.uint8)).save(folder / f"00{c + 1}_{i + 1:04d}.jpg")
    data = load_caltech256(tmp_path, size=64)
    cfg = get_config("smoke")
    model = _tiny_model().eval()
    feats = T.FeatureSet(T.layer_features(model, data.images, torch.zeros(3, 64, 64), cfg,
                                          layers=["fc7"]), 0.0, False)
    s = T.transfer_settings("smoke", table_sizes=(2,), curve_sizes=(1, 2), test_per_class=2)
    res = T.run_table4(feats, data, cfg, s, dataset="caltech256")
    assert res["classes"] == 3 and res["pretrained"][2]["mean"] > 90.0
    assert res["paper"]["ImageNet-pretrained convnet"]["60"] == (74.2, 0.3)  # Table 5
    assert "Caltech-256, train" in table4_markdown(res) and "| 60/class |" in table4_markdown(res)

    base = tmp_path / "VOCdevkit" / "VOC2012"
    main = base / "ImageSets" / "Main"
    for sub in ("JPEGImages", "Annotations"):
        (base / sub).mkdir(parents=True)
    main.mkdir(parents=True)
    ids = {"train": [f"2008_{i:06d}" for i in range(6)], "val": [f"2009_{i:06d}" for i in range(4)]}
    for split, names in ids.items():
        for i, image_id in enumerate(names):
            Image.new("RGB", (80, 60), [(250, 0, 0), (0, 0, 250)][i % 2]).save(
                base / "JPEGImages" / f"{image_id}.jpg")
        for j, c in enumerate(VOC_CLASSES):
            flags = [(1 if i % 2 == j else -1) if j < 2 else -1 for i in range(len(names))]
            (main / f"{c}_{split}.txt").write_text(
                "".join(f"{n} {f:2d}\n" for n, f in zip(names, flags, strict=True)))
    train, val = load_voc2012(tmp_path, "train"), load_voc2012(tmp_path, "val")
    ftr = T.layer_features(model, train.images, torch.zeros(3, 64, 64), cfg, layers=["fc7"])
    fva = T.layer_features(model, val.images, torch.zeros(3, 64, 64), cfg, layers=["fc7"])
    res = T.run_voc(ftr["fc7"], train.targets, fva["fc7"], val.targets, classes=VOC_CLASSES)
    assert set(res["ap"]) == {"aeroplane", "bicycle"} and res["mean_ap"] == pytest.approx(100.0)


def test_conv_only_artifacts_are_refused_for_fully_connected_features():
    """alexnet64 stores conv layers only: its fc6/fc7 would be random, so they are refused."""
    from zflib.config import transfer_settings
    from zflib.methods.transfer import caltech101_features

    with pytest.raises(ValueError, match="'alexnet64' stores its conv layers only"):
        caltech101_features("alexnet64", transfer_settings("smoke"))


def test_fig9_says_how_many_splits_are_behind_each_point():
    """Fig. 9 with the from-scratch curve on fewer splits outside Table 4's sizes (full):
    the table names each cell's splits, the legend the sizes on fewer splits."""
    from zflib.viz.transfer import fig9_markdown, plot_fig9

    def part(spec):
        return {n: T.summarize([v / 100 for v in runs]) for n, runs in spec.items()}

    res = {"pretrained": part({1: [10, 12, 14], 15: [40, 41, 42]}),
           "scratch": part({1: [4, 6], 15: [28, 29, 30]}),
           "paper": {}, "classes": 102}
    table = fig9_markdown(res).splitlines()
    assert table[0] == "| per class | 1 | 15 |"
    assert table[2] == "| pretrained (ours) | 12.0 ± 2.0 (3) | 41.0 ± 1.0 (3) |"
    assert table[3] == "| from scratch (ours) | 5.0 ± 1.4 (2) | 29.0 ± 1.0 (3) |"
    labels = plot_fig9(res).axes[0].get_legend_handles_labels()[1]
    assert labels[0] == "pretrained (ours, at 1 and 15 per class only)"
    assert labels[1] == ("from scratch (ours, at 1 and 15 per class only)\n"
                         "3 splits at 15; 2 splits at 1")
    # Table 4 names the splits of its own cells (15), not those of the curve's other sizes
    from zflib.viz.transfer import table4_markdown

    table4 = table4_markdown({**res, "table_sizes": [15], "dataset": "caltech101"})
    assert "| Non-pretrained ZFNet-64 (ours), 3 split(s) | 29.0 ± 1.0 |" in table4


def test_a_committed_baseline_is_named_relative_to_the_repository(tmp_path):
    from zflib.config import repo_root

    committed = S.committed_baselines()
    assert committed, "no committed from-scratch baseline"
    assert S.load_baseline(committed[0])["source"] == \
        committed[0].relative_to(repo_root()).as_posix()
    outside = tmp_path / "b.json"
    outside.write_text(committed[0].read_text())
    assert S.load_baseline(outside)["source"] == str(outside)


def _reference_file(folder, data, s, scratch):
    """A committed baseline of ZFNet-64 (as zflib.paper.scratch.main writes one) keyed on ``data``'s
    labels under settings ``s``."""
    from zflib.training.artifacts import load_trained

    cfg = S.scratch_config(load_trained("zfnet64").cfg, s)
    folder.mkdir(parents=True, exist_ok=True)
    saved = {"model": "zfnet64", "settings": {f: getattr(s, f) for f in S.KEY_FIELDS},
             "scratch": scratch, "runs": [], "key": S.baseline_key(data, cfg, s),
             "epochs": s.scratch_epochs, "seconds": 1.0, "machine": "test"}
    (folder / "ref.json").write_text(json.dumps({"profile": "full", "data": saved}))


def test_a_reference_baseline_of_another_architecture_stands_in(zf_home, tmp_path, monkeypatch):
    """full224's scratch_reference: with no baseline of this architecture committed, auto
    shows the named one (ZFNet-64's) on the same splits, trains nothing, and refuses one
    trained on other labels."""
    from zflib.config import repo_root
    from zflib.viz.transfer import fig9_markdown, source_title, table4_markdown

    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / "zfnet64").symlink_to(repo_root() / "artifacts" / "zfnet64")
    monkeypatch.setenv("ZF_ARTIFACTS", str(arts))
    data = _toy_set()
    s = _baseline_settings(scratch_reference="ref.json")
    scratch = {"1": {"mean": 20.0, "std": 0.0, "runs": [20.0]}}
    cfg224 = get_config("full224")  # the pretrained net's: no baseline of it is committed
    with pytest.raises(FileNotFoundError, match="scratch_reference 'ref.json': no file"):
        S.baseline(data, cfg224, s, profile="full224")
    _reference_file(arts / "transfer", data, s, scratch)
    got = S.baseline(data, cfg224, s, profile="full224")
    assert got["reference"] == "zfnet64" and got["scratch"] == {1: scratch["1"]}
    assert not list((zf_home / "cache").glob("scratch-runs-*"))  # nothing trained
    # a reference trained on other labels (another class list) is refused, not shown
    other = ImageSet(data.images, data.labels.flip(0), data.classes, data.names, data.paths)
    with pytest.raises(ValueError, match="trained on other splits"):
        S.baseline(other, cfg224, s, profile="full224")
    # the tables and Fig. 9 name the stand-in
    feats = T.FeatureSet({"fc7": np.eye(3, 8)[data.labels.numpy()].astype(np.float16)}, 0.0,
                         False)
    res = T.run_table4(feats, data, cfg224, s, scratch=got, model_name="zfnet224")
    assert res["scratch_model"] == "zfnet64" and res["model"] == "zfnet224"
    assert "| Tiny-ImageNet-pretrained ZFNet-224 (ours), 2 split(s) |" in table4_markdown(res)
    assert "| from scratch, ZFNet-64 (ours) | 20.0 ± 0.0 (1) |" in fig9_markdown(res)
    assert source_title(res) == "Caltech-101, ZFNet-224"
    upscaled = ImageSet(data.images, data.labels, data.classes, data.names, data.paths,
                        upscaled_from=16)
    res = T.run_table4(feats, upscaled, cfg224, s, scratch=got, model_name="zfnet224")
    assert res["input"].startswith("shorter side to 16, centre 16x16 upscaled to 256 by bicubic")
    assert source_title(res) == "Caltech-101, ZFNet-224, 16-px images upscaled to 256"


def test_a_reference_from_another_copys_splits_is_checked_on_that_copy(zf_home, tmp_path,
                                                                      monkeypatch):
    """full224 on the full-size Caltech-101 (9,144 images) shows the 64-pixel baseline trained
    on the mirror's splits (9,145): its key is checked against the mirror's labels, and the
    tables and Fig. 9 say the splits are another copy's."""
    from zflib.config import repo_root
    from zflib.viz.transfer import fig9_markdown, source_title, table4_markdown

    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / "zfnet64").symlink_to(repo_root() / "artifacts" / "zfnet64")
    monkeypatch.setenv("ZF_ARTIFACTS", str(arts))
    mirror, full = _toy_set(per_class=7), _toy_set(per_class=6)  # one image fewer per class
    loaded = []

    def load(settings, size):  # the copies, as load_caltech finds them
        loaded.append((settings.dataset, size))
        return {"caltech101": mirror, "caltech101-full": full}[settings.dataset]

    monkeypatch.setattr(S, "load_caltech", load)
    s = _baseline_settings(scratch_reference="ref.json", dataset="caltech101-full")
    _reference_file(arts / "transfer", mirror, s, {"1": {"mean": 20.0, "std": 0.0,
                                                         "runs": [20.0]}})
    cfg224 = get_config("full224")
    with pytest.raises(ValueError, match="trained on other splits"):  # not full's splits
        S.baseline(full, cfg224, s, profile="full224")
    s = _baseline_settings(scratch_reference="ref.json", dataset="caltech101-full",
                           scratch_reference_dataset="caltech101")
    got = S.baseline(full, cfg224, s, profile="full224")
    assert got["reference_dataset"] == "caltech101" and loaded[-1] == ("caltech101", 64)
    # the same copy as the data's is no other copy: checked on the data's own labels
    same = _baseline_settings(scratch_reference="ref.json", scratch_reference_dataset="caltech101")
    assert S.baseline(mirror, cfg224, same, profile="full224")["reference_dataset"] == ""
    feats = T.FeatureSet({"fc7": np.eye(3, 8)[full.labels.numpy()].astype(np.float16)}, 0.0,
                         False)
    res = T.run_table4(feats, full, cfg224, s, scratch=got, model_name="zfnet224")
    assert res["scratch_dataset"] == "caltech101" and res["source"] == "caltech101-full"
    assert "| Non-pretrained ZFNet-64 (ours; other splits: caltech101), 1 epochs, 1 split(s) |" \
        in table4_markdown(res)
    assert "| from scratch, ZFNet-64 (ours; other splits: caltech101) |" in fig9_markdown(res)
    assert source_title(res) == "Caltech-101, ZFNet-224, full-size images"


def test_load_caltech_reads_the_copy_the_settings_name(monkeypatch):
    import zflib.data.caltech as caltech
    import zflib.data.natural as natural

    calls = []
    monkeypatch.setattr(caltech, "load_caltech101", lambda **kw: calls.append(("mirror", kw)))
    monkeypatch.setattr(natural, "load_caltech101_full", lambda **kw: calls.append(("full", kw)))
    T.load_caltech(T.transfer_settings("smoke"), 64)
    T.load_caltech(T.transfer_settings("full224"), 256)
    assert calls == [("mirror", {"size": 64, "background": True, "per_class_limit": 5}),
                     ("full", {"size": 256, "background": True, "per_class_limit": 0})]
    with pytest.raises(ValueError, match="dataset 'caltech256' not valid; valid: caltech101, "
                                         "caltech101-full"):
        T.transfer_settings("full", dataset="caltech256")
    with pytest.raises(ValueError, match="scratch_reference_dataset 'x' not valid"):
        T.transfer_settings("full", scratch_reference_dataset="x")


def test_full224_transfer_settings_are_fulls_with_the_64_pixel_reference():
    full, f224 = T.transfer_settings("full"), T.transfer_settings("full224")
    assert f224.dataset == "caltech101-full" and full.dataset == "caltech101"
    assert f224.scratch_reference_dataset == full.dataset  # the reference's splits
    assert f224.scratch_reference == "caltech101-scratch-full.json"
    assert {f: getattr(f224, f) for f in S.KEY_FIELDS} == {f: getattr(full, f)
                                                            for f in S.KEY_FIELDS}
    assert S.committed_baselines()[0].name == f224.scratch_reference
