"""pyproject.toml and environment.yml list the same packages, pinned alike; the benchmarks
write their results in one shape."""

import json
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted |= set(extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) == wanted
    assert "torch==2.14.1" in wanted and "torchvision==0.29.1" in wanted
    assert not [d for d in wanted if "==" not in d]  # the tested versions, every one


def test_benchmark_results_are_flat_numbers_and_a_machine():
    """Each benchmarks/results/<bench>.json: a flat object of numbers plus a ``machine``
    string, one per benchmark script (and ``<bench>_cpu.json`` beside a GPU benchmark's, its
    run on this CPU)."""
    folder = ROOT / "benchmarks" / "results"
    benches = {p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert {p.stem.removesuffix("_cpu") for p in folder.glob("*.json")} == benches
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())
        assert isinstance(data.pop("machine"), str), path.name
        bad = {k: v for k, v in data.items()
               if not isinstance(v, (int, float)) or isinstance(v, bool)}
        assert not bad, f"{path.name}: not numbers: {bad}"


def test_make_help_names_every_target_once():
    """``make help`` (also plain ``make``): every target of the Makefile, one line each."""
    import re
    import subprocess

    text = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", text, re.M).group(1).split())
    defined = set(re.findall(r"^([a-z]+):", text, re.M))
    assert phony == defined and {"setup", "test", "figures", "docs", "help"} <= defined
    for args in (["help"], []):
        out = subprocess.run(["make", "-s", "-C", str(ROOT), *args], capture_output=True,
                             text=True, check=True).stdout.splitlines()
        named = [line.split()[1] for line in out]
        assert sorted(named) == sorted(defined)  # each once
        assert all(len(line.split()) > 2 for line in out)  # with what it does
