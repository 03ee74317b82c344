"""zflib.config: profiles and overrides in one place."""

import re

import pytest

from zflib.config import PROFILES, get_config


def test_profiles_exist_and_differ():
    assert set(PROFILES) == {"smoke", "quick", "lab", "full", "full224", "paper"}
    f224 = get_config("full224")
    assert (f224.size, f224.image_size, f224.crop_size, f224.train_per_class) == (224, 256, 224, 0)
    paper = get_config("paper")
    assert (paper.optimizer, paper.lr, paper.init, paper.size, paper.input_scale) == (
        "sgd", 1e-2, "normal", 224, 1.0)
    assert paper.momentum == 0.9 and paper.batch_size == 128 and paper.dropout == 0.5
    assert paper.renorm and paper.renorm_radius == 0.1
    assert get_config("smoke").train_per_class > 0


def test_lab_is_quick_reading_the_committed_transfer_baseline():
    """The notebooks' default: quick's images (fewer for Figs. 4 and 7 and Table 1's random
    regions), and Caltech-101 transfer on full's splits and from-scratch settings, so that
    notebook 10 finds the committed baseline by its key."""
    import dataclasses

    from zflib.config import transfer_settings
    from zflib.paper.scratch import KEY_FIELDS

    lighter = dict(fig4_per_class=5, fig7_images=1000, correspondence_draws=15)
    assert dataclasses.replace(get_config("lab"), profile="quick") == get_config("quick",
                                                                                   **lighter)
    lab, full = transfer_settings("lab"), transfer_settings("full")
    assert {f: getattr(lab, f) for f in KEY_FIELDS} == {f: getattr(full, f) for f in KEY_FIELDS}
    assert lab.max_iter == transfer_settings("quick").max_iter < full.max_iter


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
    from zflib.paper.runs import RUNS
    from zflib.training.train import check_config

    for profile in PROFILES:
        for run in RUNS.values():
            check_config(get_config(profile, **run.overrides))


def test_profile_is_an_argument_not_an_override():
    assert get_config(profile="smoke") == get_config("smoke")
    with pytest.raises(ValueError, match=re.escape(
            "config key 'profile' is not an override (got profile='full' besides profile "
            "'smoke'); give the profile as get_config's first argument: get_config('full', "
            "...), or --profile full on the command line")):
        get_config("smoke", profile="full")


@pytest.mark.parametrize("value, got", [((1.0,), "(1.0,)"), ([1, "2"], "[1, '2']"),
                                        (3, "3")])
def test_tuple_fields_name_their_element_type(value, got):
    with pytest.raises(TypeError, match=re.escape(
            f"config key 'keep_epochs' wants a tuple of int, got {got}") + "$"):
        get_config("smoke", keep_epochs=value)


@pytest.mark.parametrize("profile, overrides, message", [
    ("smoke", dict(keep_epochs=(0,)), "keep_epochs 0 out of range 1..1"),
    ("smoke", dict(keep_epochs=(1, -2)), "keep_epochs -2 out of range 1..1"),
    ("full", dict(keep_epochs=(1, 21)), "keep_epochs 21 out of range 1..20"),
    ("full", dict(epochs=5), "keep_epochs 10 out of range 1..5"),
])
def test_keep_epochs_are_epochs_of_the_run(profile, overrides, message):
    from zflib.training.train import check_config

    hint = " (the run's epochs; a shorter run sets them too: --set keep_epochs=[1,2])"
    with pytest.raises(ValueError, match=re.escape(message + hint) + "$"):
        check_config(get_config(profile, **overrides))
    check_config(get_config(profile, **{**overrides, "keep_epochs": ()}))  # none kept: valid
