"""zflib.paper.quotes: the numbers README.md, docs/ and the notebooks quote are read from the
record; every one of them says what its source holds today."""

from __future__ import annotations

import json

import pytest

from zflib.config import repo_root
from zflib.paper import quotes


@pytest.fixture()
def root(tmp_path):
    results = tmp_path / "figures" / "record" / "results"
    results.mkdir(parents=True)
    (results / "t4.json").write_text(json.dumps({"profile": "full", "data": {
        "scratch": {"15": {"mean": 28.84, "std": 0.93}},
        "parts": {"eye": {"p": 0.69}, "nose": {"p": 0.91}, "random": {"mean": 0.17}},
        "rows": [{"err": 0.6273}]}}))
    r224 = tmp_path / "figures" / "224" / "record" / "results"  # the full224 record
    r224.mkdir(parents=True)
    (r224 / "t4.json").write_text(json.dumps({"profile": "full224", "data": {
        "scratch": {"15": {"mean": 54.51}}}}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.json").write_text(json.dumps({"a": {"b": [1, 2.5]}}))
    return tmp_path


def test_value_follows_the_path_and_the_format(root):
    assert quotes.value("record:t4/scratch/15/mean", ".1f", root=root) == "28.8"
    assert quotes.value("record:t4/rows/0/err", ".1%", root=root) == "62.7%"
    assert quotes.value("record:t4/rows/0/err", "sub1:.1%", root=root) == "37.3%"
    # '*' over parts, those without the rest of the path skipped
    assert quotes.value("record:t4/parts/*/p", "min:.2f", root=root) == "0.69"
    assert quotes.value("record:t4/parts/*/p", "max:.2f", root=root) == "0.91"
    assert quotes.value("record:t4/parts/*/p", "len:d", root=root) == "2"
    assert quotes.value("file:sub/x.json/a/b/1", "g", root=root) == "2.5"
    assert quotes.value("record224:t4/scratch/15/mean", ".1f", root=root) == "54.5"


def test_a_wrong_quote_is_named(root):
    with pytest.raises(KeyError, match="record:t4/scratch/30/mean"):
        quotes.value("record:t4/scratch/30/mean", ".1f", root=root)
    with pytest.raises(KeyError, match="wants min:, max: or len:"):
        quotes.value("record:t4/parts/*/p", ".2f", root=root)
    with pytest.raises(KeyError, match="unknown source 'paper'"):
        quotes.value("paper:t4/x", ".1f", root=root)


def test_refresh_rewrites_only_the_numbers(root):
    text = ("Scratch: <!--r record:t4/scratch/15/mean|.1f-->30.0<!--/r--> ± "
            "<!--r record:t4/scratch/15/std|.1f-->0.9<!--/r--> (typed: 12.3).")
    assert quotes.stale(text, root=root) == ["record:t4/scratch/15/mean: '30.0' != '28.8'"]
    fixed = quotes.refresh(text, root=root)
    assert fixed == text.replace("-->30.0<", "-->28.8<")
    assert quotes.stale(fixed, root=root) == []
    assert [q.ref for q in quotes.quotes(fixed)] == ["record:t4/scratch/15/mean",
                                                      "record:t4/scratch/15/std"]


def test_the_readme_docs_and_notebooks_quote_the_record_as_it_is():
    docs = quotes.documents()
    assert docs[0] == repo_root() / "README.md" and len(docs) > 1
    counted = {path.name: len(quotes.quotes(quotes.text_of(path))) for path in docs}
    assert counted["README.md"] >= 4 and counted.get("reproduction.md", 0) >= 10
    assert counted.get("02_fig2_top9.ipynb", 0) >= 3  # the notebooks' opening numbers
    stale = {path.name: quotes.stale(quotes.text_of(path)) for path in docs}
    assert {name: s for name, s in stale.items() if s} == {}


def test_refresh_documents_rewrites_the_readme_and_docs_that_are_stale(root):
    (root / "docs").mkdir()
    span = "<!--r record:t4/scratch/15/mean|.1f-->{}<!--/r-->"
    (root / "README.md").write_text("Scratch " + span.format("30.0"))
    (root / "docs" / "a.md").write_text("Already " + span.format("28.8"))
    assert quotes.refresh_documents(root) == [root / "README.md"]
    assert (root / "README.md").read_text() == "Scratch " + span.format("28.8")
    assert quotes.refresh_documents(root) == []


def test_a_notebooks_markdown_is_refreshed_and_the_rest_kept_byte_for_byte(root):
    span = "<!--r record:t4/scratch/15/mean|.1f-->{}<!--/r-->"
    nb = {"cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {},
         "source": ["# Table 4\n", "\n", "Scratch: " + span.format("30.0") + " per cent.\n",
                    "Ünïcode stays."]},
        {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {}, "outputs": [],
         "source": ["x = '" + span.format("30.0") + "'  # code is not a document"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "README.md").write_text("No quotes here.")
    (root / "notebooks").mkdir()
    path = root / "notebooks" / "04_t.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    assert path in quotes.documents(root)
    assert quotes.stale(quotes.text_of(path), root=root) == [
        "record:t4/scratch/15/mean: '30.0' != '28.8'"]
    assert quotes.refresh_documents(root) == [path]
    nb["cells"][0]["source"][2] = "Scratch: " + span.format("28.8") + " per cent.\n"
    assert path.read_text() == json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    assert quotes.refresh_documents(root) == []
