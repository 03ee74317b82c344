"""zflib's top level: the names of the flat layout reach the modules in their layers, as the
same objects, by every way of importing them."""

import importlib
import subprocess
import sys

import pytest

import zflib


@pytest.mark.parametrize("name", sorted(zflib.MOVED))
def test_each_flat_name_is_the_module_in_its_layer(name):
    real = importlib.import_module(f"zflib.{zflib.MOVED[name]}.{name}")
    assert importlib.import_module(f"zflib.{name}") is real
    assert getattr(zflib, name) is real
    assert real.__name__ == f"zflib.{zflib.MOVED[name]}.{name}"


def test_every_moved_name_exists_in_its_layer_and_nothing_else_is_aliased():
    for name, layer in zflib.MOVED.items():
        assert importlib.util.find_spec(f"zflib.{layer}.{name}") is not None
        # a module of the flat layout would shadow the alias: none is left at the top
        assert not (zflib.config.repo_root() / "zflib" / f"{name}.py").exists()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("zflib.no_such_module")
    with pytest.raises(AttributeError, match="no attribute 'no_such_module'"):
        zflib.no_such_module  # noqa: B018


def test_readme_import_line_and_a_patch_through_the_old_name():
    from zflib import deconv, occlusion, topk
    from zflib.methods import deconv as layered

    assert deconv is layered and topk.__name__ == "zflib.methods.topk"
    assert occlusion.occlusion_maps is importlib.import_module(
        "zflib.methods.occlusion").occlusion_maps


def test_python_m_runs_a_module_by_its_flat_name():
    out = subprocess.run([sys.executable, "-m", "zflib.mine", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("usage: python -m zflib.apps.mine")


def test_at_most_eight_modules_at_the_top():
    top = sorted(p.name for p in (zflib.config.repo_root() / "zflib").glob("*.py"))
    assert len(top) <= 8, top
