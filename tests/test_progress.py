"""zflib.progress: a bar where one is asked for, none where it is not or where $TQDM_DISABLE is
set (tqdm's own switch, which its notebook bars ignore); ``ticks`` counts into one bar over
several passes."""

from __future__ import annotations

import io

import pytest

from zflib import progress


@pytest.fixture
def bars_on(monkeypatch):
    monkeypatch.delenv(progress.OFF, raising=False)  # the suite turns them off (conftest)


def test_enabled_follows_the_argument_and_the_environment(bars_on, monkeypatch):
    assert progress.enabled(True) and not progress.enabled(False)
    for value in ("1", "true", "yes", "True"):
        monkeypatch.setenv(progress.OFF, value)
        assert not progress.enabled(True), value
    for value in ("", "0", "false", " False "):
        monkeypatch.setenv(progress.OFF, value)
        assert progress.enabled(True), value


def test_a_bar_draws_only_where_it_is_enabled(bars_on, monkeypatch):
    out = io.StringIO()
    assert list(progress.bar(range(3), progress=True, desc="counting", file=out)) == [0, 1, 2]
    assert "counting" in out.getvalue() and "3/3" in out.getvalue()
    out = io.StringIO()
    assert list(progress.bar(range(3), progress=False, desc="quiet", file=out)) == [0, 1, 2]
    monkeypatch.setenv(progress.OFF, "1")
    assert list(progress.bar(range(3), progress=True, desc="quiet", file=out)) == [0, 1, 2]
    assert out.getvalue() == ""


def test_ticks_counts_every_item_of_several_passes_into_one_bar(bars_on):
    out = io.StringIO()
    with progress.bar(total=5, progress=True, file=out) as done:
        seen = [*progress.ticks(range(2), done), *progress.ticks(range(3), done)]
        assert done.n == 5
    assert seen == [0, 1, 0, 1, 2] and "5/5" in out.getvalue()
