"""zflib.config: profiles and overrides in one place."""

import pytest

from zflib.config import PROFILES, get_config


def test_profiles_exist_and_differ():
    assert set(PROFILES) == {"smoke", "quick", "full", "paper"}
    paper = get_config("paper")
    assert (paper.optimizer, paper.lr, paper.init, paper.size, paper.input_scale) == (
        "sgd", 1e-2, "normal", 224, 1.0)
    assert paper.momentum == 0.9 and paper.batch_size == 128 and paper.dropout == 0.5
    assert paper.renorm and paper.renorm_radius == 0.1
    assert get_config("smoke").train_per_class > 0


def test_overrides_are_checked():
    assert get_config("full", lr=1).lr == 1.0
    assert get_config("full", keep_epochs=[1, 3]).keep_epochs == (1, 3)
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        get_config("full", lrr=1e-3)
    with pytest.raises(TypeError, match="'epochs' wants int"):
        get_config("full", epochs="ten")
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        get_config("fast")


def test_config_is_frozen():
    cfg = get_config("smoke")
    with pytest.raises(AttributeError):
        cfg.lr = 1.0


@pytest.mark.parametrize("key, value", [("epochs", True), ("seed", False),
                                        ("keep_epochs", (True, 2)), ("renorm", 1)])
def test_bools_and_ints_are_not_interchangeable(key, value):
    with pytest.raises(TypeError, match=f"config key '{key}' wants"):
        get_config("smoke", **{key: value})


def test_every_profile_and_run_passes_check_config():
    from zflib.runs import RUNS
    from zflib.train import check_config

    for profile in PROFILES:
        for run in RUNS.values():
            check_config(get_config(profile, **run.overrides))
