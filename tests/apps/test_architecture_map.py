"""zflib.apps.architecture_map: the layers picture of docs/architecture.md is the one the
imports draw today (regenerated and compared), and its counts are the import graph's."""

import ast
import re
from pathlib import Path

from PIL import Image

from zflib.apps import architecture_map as am
from zflib.config import repo_root

DOC = repo_root() / "docs" / "architecture.md"


def test_committed_section_and_png_match_the_imports():
    g = am.build()
    text = DOC.read_text()
    committed = re.search(re.escape(am.BEGIN) + ".*?" + re.escape(am.END), text, re.S).group(0)
    assert committed == am.section(g), "run python -m zflib.apps.architecture_map"
    png = Image.open(repo_root() / "docs" / "architecture.png")
    assert png.text["zflib-edges"] == am.edge_text(g)


def _layer(module: str) -> str | None:
    return am._layer_of(module)


def test_edge_counts_equal_an_ast_walk_of_the_sources():
    """An independent count: parse every module's imports with ast and resolve them to
    modules by the file tree."""
    root = repo_root() / "zflib"
    files = {".".join(("zflib", *p.relative_to(root).with_suffix("").parts)).removesuffix(
        ".__init__"): p for p in root.rglob("*.py")}
    edges: dict[tuple[str, str], int] = {}
    for mod, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("zflib"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in files else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in files}
        for imported in found:
            a, b = _layer(mod), _layer(imported)
            if a and b and a != b:
                edges[(a, b)] = edges.get((a, b), 0) + 1
    assert am.build().edges == dict(sorted(edges.items()))


def test_every_layer_imports_only_layers_below_it():
    order = {name: i for i, row in enumerate(am.LAYERS) for name in row}
    for a, b in am.build().edges:
        assert order[a] < order[b], f"{a} imports {b}, a layer above or beside it"


def test_write_refuses_a_document_without_markers(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "architecture.md").write_text("# no markers\n")
    try:
        am.write(tmp_path)
    except ValueError as e:
        assert "markers" in str(e)
    else:
        raise AssertionError("no error for a document without markers")
    assert Path(tmp_path / "docs" / "architecture.md").read_text() == "# no markers\n"
