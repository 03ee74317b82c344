"""zflib.apps.apidocs (``make docs``): the API reference builds without a warning and documents
every public function and class of every module, found by importing the modules (not by
reading the pages pdoc wrote)."""

from __future__ import annotations

import importlib
import inspect
import re

from zflib.apps import apidocs


def _public(module) -> list[str]:
    """The functions and classes ``module`` defines and does not hide (``_name``, or left
    out of its ``__all__``)."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    return [n for n in names
            if (inspect.isfunction(getattr(module, n, None))
                or inspect.isclass(getattr(module, n, None)))
            and getattr(getattr(module, n), "__module__", None) == module.__name__]


def test_every_module_and_public_name_is_documented_without_warnings(tmp_path):
    problems, _ = apidocs.build(tmp_path)
    assert problems == []
    names = apidocs.modules()
    assert {"zflib.methods.deconv", "zflib.methods.occlusion", "zflib.data.tiny",
            "zflib.viz.deconv"} <= set(names)
    missing = []
    for name in names:
        page = tmp_path.joinpath(*name.split(".")).with_suffix(".html")
        assert page.exists(), f"no page for {name}"
        anchors = set(re.findall(r'id="([^"]+)"', page.read_text()))
        public = _public(importlib.import_module(name))
        missing += [f"{name}.{n}" for n in public if n not in anchors]
    assert missing == []
    assert (tmp_path / "index.html").exists() and (tmp_path / "search.js").exists()


def test_a_warning_fails_the_build(tmp_path, monkeypatch, capsys):
    def warn_once(*specs, output_directory):
        import warnings

        warnings.warn("Error parsing type annotation X for zflib.f", stacklevel=1)

    import pdoc

    monkeypatch.setattr(pdoc, "pdoc", warn_once)
    assert apidocs.main(["--out", str(tmp_path)]) == 1
    assert "Error parsing type annotation X" in capsys.readouterr().err


def test_modules_lists_subpackages_but_no_scripts():
    names = apidocs.modules()
    assert names[0] == "zflib" and names[1:] == sorted(names[1:])
    assert "zflib.data.__main__" not in names and "zflib.viz.transfer" in names
