"""zflib.paper.claims: each verdict follows its stated rule from the records' numbers."""

import json

from zflib.paper import claims
from zflib.results import save_results


def _record(root, profile, name, data):
    from zflib.paper.folders import record_dir

    save_results(data, name, record_dir(root, profile) / "results", profile=profile)


def _dogs(parts, random, ranks):
    rows = {p: {"conv5": {"mean": v}} for p, v in zip(claims.PARTS, parts, strict=True)}
    rows["random"] = {"conv5": {"mean": random}}
    dec = {p: {"conv5": {"score_rank": r}} for p, r in zip(claims.PARTS, ranks, strict=True)}
    return {"rows": rows, "decomposition": dec}


def test_verdicts_follow_the_rules(tmp_path):
    _record(tmp_path, "full224", "table7_caltech101_full224",
            {"layers": {"svm": {lay: {"mean": m} for lay, m in
                                zip(claims.LAYERS, [40, 50, 60, 59, 80], strict=True)}}})
    _record(tmp_path, "full", "table7_caltech101_full",  # the softmax falls at layer 4
            {"layers": {fit: {lay: {"mean": m} for lay, m in zip(claims.LAYERS, acc, strict=True)}
                        for fit, acc in (("svm", [40, 50, 60, 70, 80]),
                                         ("softmax", [40, 50, 60, 55, 80]))}})
    _record(tmp_path, "full", "table1_correspondence_full", _dogs([0.05, 0.06, 0.07], 0.1,
                                                                   [0.0, 0.02, 0.03]))
    _record(tmp_path, "full224", "table1_correspondence_full224",
            _dogs([0.05, 0.12, 0.07], 0.1, [0.4, 0.9, 0.5]))
    _record(tmp_path, "full224", "table4_fig9_caltech101_full224",
            {"pretrained": {"15": {"mean": 60.0}}, "scratch": {"15": {"mean": 29.0}}})
    _record(tmp_path, "full224", "fig7_object_full224",
            {"summary": {"images": 50, "on": 0.3, "off": 0.4, "share_on_lower": 0.74,
                         "sign_test_p": 0.0005}})
    counts = {"conv1": 1.6, "conv2": 1.7, "conv3": 1.8, "conv4": 1.9, "conv5": 2.0}
    _record(tmp_path, "full", "fig2_maps_full",
            {"modal_count_all_maps": counts, "modal_count_chance": 1.17})
    _record(tmp_path, "full224", "fig2_maps_full224",  # layer 3 at layer 1's count: not held
            {"modal_count_all_maps": {**counts, "conv3": 1.6}, "modal_count_chance": 1.17})
    rows = {r["claim"].split(":")[0]: r for r in claims.check(tmp_path)}
    assert rows["Fig. 2"]["full"] == ("1.60 -> 1.70 -> 1.80 -> 1.90 -> 2.00 (chance 1.17)", True)
    assert not rows["Fig. 2"]["full224"][1]
    assert not rows["Table 7"]["full"][1] and not rows["Table 7"]["full224"][1]
    assert rows["Table 7"]["full"][0].endswith("; softmax 40.0 -> 50.0 -> 60.0 -> 55.0 -> 80.0")
    assert "SVM 40.0 -> 50.0 -> 60.0 -> 59.0 -> 80.0" == rows["Table 7"]["full224"][0]
    assert rows["Table 1"]["full"][1] and "(p = 0.00 / 0.02 / 0.03)" in rows["Table 1"]["full"][0]
    assert not rows["Table 1"]["full224"][1]
    assert rows["Table 4"]["full224"][1] and rows["Table 4"]["full"] is None
    assert rows["Fig. 7"]["full224"][1] and "74% of 50 images" in rows["Fig. 7"]["full224"][0]
    assert rows["Fig. 6"]["full"] is None  # no record: said, not guessed
    md = claims.markdown(tmp_path)
    assert md.count("\n") == len(claims.CLAIMS) + 1 and "(not measured)" in md


def test_table2_claim_reads_the_committed_runs(tmp_path):
    from zflib.paper.runs import results_of

    row = next(r for r in claims.check(tmp_path) if r["claim"].startswith("Table 2"))
    for profile, (z, a) in claims.TABLE2_PAIRS.items():
        zf, ax = (100 * results_of(n)["val_top1_err_10crop"] for n in (z, a))
        assert row[profile] == (f"{zf:.1f} against {ax:.1f}", zf < ax)
    assert json.dumps(row)  # plain data


def _sanity(gradient, deconvnet, guided):
    steps = ["conv5", "conv5-conv4", "conv5-conv3", "conv5-conv2", "conv5-conv1"]
    at = {"gradient": gradient, "deconvnet": deconvnet, "guided": guided}
    return {"steps": steps, "summary": {r: {"spearman_abs": {
        s: {"mean": v if s == "conv5-conv2" else 0.9, "std": 0.1, "n": 30} for s in steps}}
        for r, v in at.items()}}


def test_sanity_check_claim_follows_its_rule(tmp_path):
    """Adebayo's finding holds when, with conv5 to conv2 randomised, the gradient's rank
    correlation is below 0.2 and the deconvnet's and guided backprop's above 0.5."""
    from zflib.viz.sanity import sanity_markdown

    _record(tmp_path, "full", "sanity_full", _sanity(0.16, 0.55, 0.54))
    _record(tmp_path, "full224", "sanity_full224", _sanity(0.16, 0.08, 0.54))
    row = next(r for r in claims.check(tmp_path) if r["claim"].startswith("Sanity checks"))
    assert row["full"] == ("gradient 0.16, deconvnet 0.55, guided backprop 0.54", True)
    assert row["full224"] == ("gradient 0.16, deconvnet 0.08, guided backprop 0.54", False)
    md = sanity_markdown(_sanity(0.16, 0.55, 0.54)).splitlines()
    assert md[0] == "| rule | +conv5 | +conv4 | +conv3 | +conv2 | +conv1 | top vs random class |"
    assert md[2] == "| gradient | 0.90 ± 0.10 | 0.90 ± 0.10 | 0.90 ± 0.10 | 0.16 ± 0.10 | " \
        "0.90 ± 0.10 | - |"


def test_table1_needs_every_part_below_random_at_p_below_005(tmp_path):
    # below random on average, but the nose's p (0.05) is not below 0.05: not held
    _record(tmp_path, "full224", "table1_correspondence_full224",
            {**_dogs([0.05, 0.06, 0.07], 0.1, [0.0, 0.025, 0.05]), "draws": 40})
    got = {r["claim"][:7]: r for r in claims.check(tmp_path)}["Table 1"]["full224"]
    assert got == ("0.050 / 0.060 / 0.070 against 0.100 (p = 0.00 / 0.03 / 0.05, 40 draws)",
                   False)


def test_table4_gap_of_30_points_and_the_stand_in_baseline(tmp_path):
    def table4(pre, scratch):
        _record(tmp_path, "full224", "table4_fig9_caltech101_full224",
                {"model": "zfnet224", "scratch_model": "zfnet64",
                 "pretrained": {"15": {"mean": pre}}, "scratch": {"15": {"mean": scratch}}})
        return {r["claim"][:7]: r for r in claims.check(tmp_path)}["Table 4"]["full224"]

    assert table4(58.0, 28.8) == ("58.0 against 28.8 (ZFNet-64's baseline)", False)
    assert table4(59.0, 29.0)[1]  # exactly 30 points: held


def test_table7_layers_6_and_7_stay_within_5_points_of_layer_5(tmp_path):
    def table7(fc6, fc7):
        acc = dict(zip(claims.LAYERS, [40, 50, 60, 70, 80], strict=True))
        _record(tmp_path, "full224", "table7_caltech101_full224",
                {"layers": {"svm": {k: {"mean": v} for k, v in
                                    {**acc, "fc6": fc6, "fc7": fc7}.items()}}})
        return {r["claim"][:7]: r for r in claims.check(tmp_path)}["Table 7"]["full224"]

    assert table7(76.0, 84.0) == ("SVM 40.0 -> 50.0 -> 60.0 -> 70.0 -> 80.0, then 76.0 -> 84.0",
                                  True)
    assert not table7(74.9, 80.0)[1]  # layer 6 falls 5.1 points
    assert not table7(80.0, 85.5)[1]  # layer 7 rises 5.5 points: not flat either


def _filters(a_sim, z_sim, a_mid=0.13, z_mid=0.23):
    return {name: {"energy_mid": 0.2, "init_similarity": sim, "learned_energy_mid": mid}
            for name, sim, mid in (("AlexNet", a_sim, a_mid), ("ZFNet", z_sim, z_mid))}


def test_fig6_counts_only_first_layers_that_learned(tmp_path):
    def fig6(data):
        _record(tmp_path, "full224", "fig06_filters", data)
        return {r["claim"][:6]: r for r in claims.check(tmp_path)}["Fig. 6"]["full224"]

    # both still mostly their initial noise (the committed 224-pixel nets): not testable,
    # whatever their bands say
    text, held = fig6(_filters(0.81, 0.82))
    assert held is None and "still mostly their initial noise" in text and "0.81 and 0.82" in text
    # one of them near its noise is enough to make the comparison meaningless
    assert fig6(_filters(0.30, 0.72))[1] is None
    # both learned (at or below 1/sqrt(2)): the learned components' mid bands decide
    assert fig6(_filters(0.54, 0.60)) == ("0.13 against 0.23 (cosine to the initial filters "
                                          "0.54 and 0.60)", True)
    assert fig6(_filters(0.54, 0.707, a_mid=0.3, z_mid=0.2))[1] is False
    # the band shares of the filters as trained do not enter the rule
    data = _filters(0.5, 0.5)
    data["AlexNet"]["energy_mid"] = 0.9
    assert fig6(data)[1] is True
    # a record without initial filters cannot be tested
    assert fig6({"AlexNet": {"energy_mid": 0.2}, "ZFNet": {"energy_mid": 0.3}})[1] is None
    md = claims.markdown(tmp_path)
    assert "**not testable**" in md
    # every row of the table has its columns: no cell holds a pipe of its own
    assert {line.count("|") for line in md.splitlines()} == {len(claims.GEOMETRIES) + 3}


def test_learned_similarity_is_half_the_energy():
    # the squared cosine of a filter to its initial value is the share of its energy along it
    assert abs(claims.LEARNED_SIMILARITY ** 2 - 0.5) < 1e-12


def test_fig5_layer1_jumps_layer7_is_linear_and_rotation_costs_the_class(tmp_path):
    def fig5(**change):
        kinds = {k: {"jump_conv1": 0.7, "jump_fc7": 0.3, "linear_conv1": 0.5,
                     "linear_fc7": 0.9, "prob_kept": 0.6} for k in ("translation", "scale")}
        kinds["rotation"] = {"jump_conv1": 0.7, "jump_fc7": 0.3, "linear_conv1": 0.2,
                             "linear_fc7": 0.1, "prob_kept": 0.3}
        for key, value in change.items():
            kind, field = key.split("__")
            kinds[kind][field] = value
        _record(tmp_path, "full224", "fig5_invariance_full224", {"summary": kinds})
        return {r["claim"][:6]: r for r in claims.check(tmp_path)}["Fig. 5"]["full224"]

    text, held = fig5()
    assert held and text.startswith("translation: jump 0.70 -> 0.30, linear 0.50 -> 0.90, "
                                    "P kept 0.60; scale:") and text.endswith("(rotation: P "
                                                                            "kept 0.30)")
    assert not fig5(scale__prob_kept=0.3)[1]  # no more invariant than to rotation
    assert not fig5(translation__jump_fc7=0.8)[1]  # layer 7 jumps as much as layer 1
    assert not fig5(scale__linear_fc7=0.4)[1]  # layer 7 less linear than layer 1
    assert fig5(rotation__linear_fc7=0.0)[1]  # rotation's linearity is no part of the rule
    assert {r["claim"][:6]: r for r in claims.check(tmp_path)}["Fig. 5"]["full"] is None
