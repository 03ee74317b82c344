"""zflib.memo: a cached call returns what a fresh call returns, misses on any change of its
arguments or of the package's code, and survives a torn entry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from zflib import memo

CALLS: list[tuple] = []


@dataclasses.dataclass(frozen=True)
class Setting:
    scale: float
    names: tuple[str, ...]


def weighted(model: nn.Module, x: torch.Tensor, setting: Setting, *, shift: int = 0) -> dict:
    CALLS.append((x.sum().item(), shift))
    with torch.no_grad():
        return {"out": model(x) * setting.scale + shift, "names": list(setting.names)}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return nn.Linear(4, 2)


def test_second_call_is_read_back_equal(zf_home, model):
    CALLS.clear()
    x = torch.randn(3, 4)
    want = weighted(model, x, Setting(2.0, ("a",)), shift=1)
    got = memo.cached(weighted, model, x, Setting(2.0, ("a",)), shift=1)
    again = memo.cached(weighted, model, x.clone(), Setting(2.0, ("a",)), shift=1)
    assert torch.equal(got["out"], want["out"]) and torch.equal(again["out"], want["out"])
    assert again["names"] == ["a"]
    assert len(CALLS) == 2  # the direct call and the first cached one; the second was read
    assert len(list(memo.memo_dir().glob("weighted-*.pt"))) == 1


def test_any_change_of_an_argument_is_a_new_entry(zf_home, model):
    x = torch.randn(3, 4)
    base = (model, x, Setting(2.0, ("a",)))
    memo.cached(weighted, *base)
    other_model = nn.Linear(4, 2)
    other_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        other_model.bias[0] += 1e-3
    x2 = x.clone()
    x2[0, 0] += 1e-6
    for args, kw in (((other_model, x, base[2]), {}), ((model, x2, base[2]), {}),
                     ((model, x, Setting(2.5, ("a",))), {}), ((model, x, Setting(2.0, ("b",))), {}),
                     (base, {"shift": 3})):
        got = memo.cached(weighted, *args, **kw)
        assert torch.equal(got["out"], weighted(*args, **kw)["out"])
    assert len(list(memo.memo_dir().glob("weighted-*.pt"))) == 6
    # the same model's weights under another object, and an equal copy of x: the same entry
    twin = nn.Linear(4, 2)
    twin.load_state_dict(model.state_dict())
    assert memo.key_of(weighted, (twin, x.clone(), base[2]), {}) == memo.key_of(weighted, base, {})


def test_code_digest_follows_the_imports_of_the_function_module(tmp_path, monkeypatch):
    pkg = tmp_path / "zflib"
    (pkg / "viz").mkdir(parents=True)
    (pkg / "sub").mkdir()
    (pkg / "algo.py").write_text("from zflib import helper\n\ndef f():\n"
                                 "    from .sub.deep import g  # inside a function, relative\n")
    (pkg / "helper.py").write_text("h = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("g = 1\n")
    (pkg / "viz" / "plot.py").write_text("from zflib import algo\n")
    (pkg / "other.py").write_text("o = 1\n")
    monkeypatch.setattr(memo, "PACKAGE", pkg)
    digests = []
    for edit in (None, ("viz/plot.py", "p = 2\n"), ("other.py", "o = 2\n"),
                 ("helper.py", "h = 2\n"), ("sub/deep.py", "g = 2\n"),
                 ("sub/__init__.py", "s = 2\n"), ("algo.py", "a = 2\n")):
        if edit:
            (pkg / edit[0]).write_text(edit[1])
        memo.code_digest.cache_clear()
        digests.append(memo.code_digest("zflib.algo"))
    memo.code_digest.cache_clear()
    # a plot importing the algorithm, and an unrelated module: the same key; the algorithm,
    # what it imports (at the top, inside a function, relatively) and their package: a new one
    assert digests[0] == digests[1] == digests[2]
    assert len(set(digests[2:])) == 5


def test_torn_entry_is_computed_again_and_rewritten(zf_home, model):
    CALLS.clear()
    x = torch.randn(2, 4)
    memo.cached(weighted, model, x, Setting(1.0, ()))
    (entry,) = memo.memo_dir().glob("weighted-*.pt")
    entry.write_bytes(entry.read_bytes()[:20])
    got = memo.cached(weighted, model, x, Setting(1.0, ()))
    assert len(CALLS) == 2 and torch.equal(got["out"], weighted(model, x, Setting(1.0, ()))["out"])
    assert memo.cached(weighted, model, x, Setting(1.0, ()))["names"] == []
    assert len(CALLS) == 3  # the rewritten entry is whole: read back, not recomputed


def test_describe_refuses_what_has_no_stable_content():
    assert memo.describe(np.float32(1.5)) == 1.5
    assert memo.describe({"a": [1, (2, "x")]}) == ["dict", [["a", ["list", [1, ["tuple",
                                                                                [2, "x"]]]]]]]
    with pytest.raises(TypeError, match=r"kwargs\['fn'\] is of type function.*valid: tensors"):
        memo.key_of(weighted, (), {"fn": lambda: 0})
    with pytest.raises(TypeError, match=r"args\[0\] is of type object"):
        memo.describe([object()], "args")


def test_a_tensor_changed_in_place_is_hashed_again(zf_home, model):
    CALLS.clear()
    x = torch.randn(2, 4)
    memo.cached(weighted, model, x, Setting(1.0, ()))
    memo.cached(weighted, model, x, Setting(1.0, ()))
    x.mul_(2)  # the same object, new content
    got = memo.cached(weighted, model, x, Setting(1.0, ()))
    assert len(CALLS) == 2 and torch.equal(got["out"], model(x).detach())
