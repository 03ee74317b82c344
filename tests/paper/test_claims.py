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
                                                                   [0.01, 0.02, 0.03]))
    _record(tmp_path, "full224", "table1_correspondence_full224",
            _dogs([0.05, 0.12, 0.07], 0.1, [0.4, 0.9, 0.5]))
    _record(tmp_path, "full224", "table4_fig9_caltech101_full224",
            {"pretrained": {"15": {"mean": 50.0}}, "scratch": {"15": {"mean": 29.0}}})
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
    assert rows["Table 1"]["full"][1] and "(p >= 0.01)" in rows["Table 1"]["full"][0]
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
