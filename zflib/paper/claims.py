"""The paper's claims, each checked at both geometries: ZFNet-64 (the ``full`` record) and
ZFNet-224 (the ``full224`` record), beside the paper's numbers.

Every verdict is computed from the committed records (``figures/record/results`` and
``figures/224/record/results``, see :mod:`zflib.paper.record`) and the committed runs; a claim whose
numbers a record lacks says so. Rules, one per claim:

- Table 2: ZFNet's 10-crop top-1 error below AlexNet's, same recipe and budget.
- Fig. 2: layers 3-5 show object parts, measured as class specificity: over every map of a
  layer, the mean count of the commonest class among its top-9 validation images
  (``topk.class_concentration``); each of layers 3-5 must exceed layer 1's (edges and colours,
  which carry the colour bias of a class's photos) and chance (9 random images,
  ``topk.chance_concentration``). A map of dog faces gathers several dog breeds, so the count
  understates parts shared across classes; the picked maps are a seeded random subset
  (``fig2_maps_<profile>`` lists them with their counts).
- Fig. 5: small transformations move layer 1 abruptly and layer 7 gradually, layer 7 nearly
  linearly in translation and scale, and the output is more invariant to translation and
  scale than to rotation (``fig5_invariance_<profile>``,
  :func:`zflib.methods.invariance.summarise`): for translation and scale,
  ``jump_conv1 > jump_fc7``, ``linear_fc7 > linear_conv1`` and ``prob_kept`` above rotation's.
- Fig. 6: AlexNet's first layer has less mid-frequency energy than ZFNet's (Sec. 4.1: "little
  coverage of the mid frequencies"; ``zflib.methods.filters`` bands), in what training added
  to the filters (``learned_energy_mid``: their initial values regressed out), and only where
  both first layers learned: the mean cosine similarity of the filters to their initial values
  (``init_similarity``) at most :data:`LEARNED_SIMILARITY` (1/sqrt(2) = 0.71: a filter's
  squared cosine is the share of its energy along its initial noise, so more than half of it
  was learned). Otherwise "not testable": a band comparison of filters that are still mostly
  their initial noise says nothing about what the architectures learn (ZFNet-224 and
  AlexNet-224 end at 0.82 and 0.81).
- Fig. 7: covering the object lowers the class probability more than covering elsewhere: the
  share of images whose mean probability with the square on the object box is below that with
  it off the box, and a one-sided sign test (``fig7_object_<profile>``).
- Table 1: at layer 5 every part's consistency score is below the random patches' (the paper:
  0.067-0.079 against 0.107), each with p < :data:`P_MAX` (0.05), p being the share of the
  random regions of the part's size that score as low or lower (an empirical one-sided
  p-value: at least 1 / 0.05 = 20 draws are needed for it to go below 0.05).
- Table 4: pretrained beats from scratch by at least :data:`TABLE4_GAP` (30) points at 15
  images per class (the paper: 61); the numbers name the from-scratch model when another
  architecture stands in for it (``full224``: ZFNet-64's baseline).
- Table 7: the linear SVM's accuracy and the softmax's (where recorded) rise at every layer
  from 1 to 5, and layers 6 and 7 (where recorded) stay within :data:`TABLE7_FLAT` (5) points
  of layer 5 (the paper: 86.2 at layer 5, 85.5 at layer 7).
- Sanity checks (not the paper's claim: Adebayo et al. 2018's finding, on the paper's
  network; ``sanity_<profile>``, notebook 12): after randomising conv5, conv4, conv3 and conv2
  (cascading, the classifier kept), the class logit's projection by the gradient keeps a rank
  correlation of absolute values (Spearman, the mean over images and seeds) with the trained
  network's below 0.2, while the deconvnet's and guided backprop's stay above 0.5.

A verdict is ``True`` (held), ``False`` (not held) or ``None`` (not testable: the records hold
the numbers, but the rule's precondition fails, as Fig. 6's on first layers that did not
learn).

Paper: Sec. 4 (Fig. 2), Sec. 4.4 (Fig. 5), Sec. 4.1 (Fig. 6, Table 2), Sec. 4.2 (Fig. 7),
Sec. 4.3 (Table 1), Sec. 5.2 (Tables 4 and 7).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zflib.config import repo_root

GEOMETRIES = {"full": "64 px (ZFNet-64)", "full224": "224 px (ZFNet-224)"}
TABLE2_PAIRS = {"full": ("zfnet64", "alexnet64"), "full224": ("zfnet224", "alexnet224")}
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
PARTS = ("right_eye", "left_eye", "nose")
# Fig. 6: a first layer learned when its filters' mean cosine similarity to their initial
# values is at most this (squared: at most half of their energy lies along the initial noise)
LEARNED_SIMILARITY = 0.5 ** 0.5
P_MAX = 0.05  # Table 1: each part's p-value below this
TABLE4_GAP = 30.0  # Table 4: pretrained minus from scratch at 15 per class, points
TABLE7_FLAT = 5.0  # Table 7: layers 6 and 7 within this many points of layer 5


def _results(root: Path, profile: str, name: str) -> dict | None:
    from zflib.paper.folders import record_dir

    path = record_dir(root, profile) / "results" / f"{name}.json"
    return json.loads(path.read_text())["data"] if path.exists() else None


def _table2(root: Path, profile: str) -> tuple[str, bool] | None:
    from zflib.paper.runs import results_of

    z, a = (100 * results_of(n)["val_top1_err_10crop"] for n in TABLE2_PAIRS[profile])
    return f"{z:.1f} against {a:.1f}", z < a


def _fig2(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"fig2_maps_{profile}")
    if data is None or "modal_count_chance" not in data:
        return None
    every, chance = data["modal_count_all_maps"], data["modal_count_chance"]
    counts = [every[layer] for layer in LAYERS]
    floor = max(counts[0], chance)
    return (" -> ".join(f"{v:.2f}" for v in counts) + f" (chance {chance:.2f})",
            all(v > floor for v in counts[2:]))


def _fig5(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"fig5_invariance_{profile}")
    if data is None:
        return None
    s = data["summary"]
    shift = ("translation", "scale")
    held = all(s[k]["jump_conv1"] > s[k]["jump_fc7"] and s[k]["linear_fc7"] >
               s[k]["linear_conv1"] and s[k]["prob_kept"] > s["rotation"]["prob_kept"]
               for k in shift)
    said = "; ".join(f"{k}: jump {s[k]['jump_conv1']:.2f} -> {s[k]['jump_fc7']:.2f}, linear "
                     f"{s[k]['linear_conv1']:.2f} -> {s[k]['linear_fc7']:.2f}, P kept "
                     f"{s[k]['prob_kept']:.2f}" for k in shift)
    return f"{said} (rotation: P kept {s['rotation']['prob_kept']:.2f})", held


def _fig6(root: Path, profile: str) -> tuple[str, bool | None] | None:
    data = _results(root, profile, "fig06_filters")
    if data is None or "AlexNet" not in data or "ZFNet" not in data:
        return None
    a, z = data["AlexNet"], data["ZFNet"]
    if any("init_similarity" not in r or "learned_energy_mid" not in r for r in (a, z)):
        return "the record has no initial filters to compare with", None
    sims = f"cosine to the initial filters {a['init_similarity']:.2f} and " \
           f"{z['init_similarity']:.2f}"
    if max(a["init_similarity"], z["init_similarity"]) > LEARNED_SIMILARITY:
        return (f"the first layers are still mostly their initial noise ({sims}, "
                f"above {LEARNED_SIMILARITY:.2f}; learned part {a['learned_energy_mid']:.2f} "
                f"against {z['learned_energy_mid']:.2f})", None)
    am, zm = a["learned_energy_mid"], z["learned_energy_mid"]
    return f"{am:.2f} against {zm:.2f} ({sims})", am < zm


def _fig7(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"fig7_object_{profile}")
    if data is None:
        return None
    s = data["summary"]
    return (f"lower on the object in {100 * s['share_on_lower']:.0f}% of {s['images']} images "
            f"(mean P {s['on']:.2f} on, {s['off']:.2f} off; p = {s['sign_test_p']:.1g})",
            s["share_on_lower"] > 0.5 and s["sign_test_p"] < 0.05)


def _table1(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"table1_correspondence_{profile}")
    if data is None:
        return None
    rows, dec = data["rows"], data["decomposition"]
    parts = [rows[p]["conv5"]["mean"] for p in PARTS]
    random = rows["random"]["conv5"]["mean"]
    ps = [dec[q]["conv5"]["score_rank"] for q in PARTS]
    draws = f", {data['draws']} draws" if "draws" in data else ""
    return (f"{' / '.join(f'{v:.3f}' for v in parts)} against {random:.3f} "
            f"(p = {' / '.join(f'{p:.2f}' for p in ps)}{draws})",
            all(v < random for v in parts) and all(p < P_MAX for p in ps))


def _table4(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"table4_fig9_caltech101_{profile}")
    if data is None:
        return None
    pre, scratch = data["pretrained"]["15"]["mean"], data["scratch"]["15"]["mean"]
    from zflib.viz.transfer import model_label

    own, other = data.get("model", ""), data.get("scratch_model", "")
    whose = f" ({model_label(other)}'s baseline)" if other and own and other != own else ""
    return f"{pre:.1f} against {scratch:.1f}{whose}", pre - scratch >= TABLE4_GAP


def _table7(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"table7_caltech101_{profile}")
    if data is None:
        return None
    said, held = [], True
    for fit in ("svm", "softmax"):
        if fit not in data["layers"]:
            continue
        got = data["layers"][fit]
        acc = [got[layer]["mean"] for layer in LAYERS]
        top = [got[layer]["mean"] for layer in ("fc6", "fc7") if layer in got]
        held &= all(b > a for a, b in zip(acc, acc[1:], strict=False))
        held &= all(abs(v - acc[-1]) <= TABLE7_FLAT for v in top)
        said.append(f"{'SVM' if fit == 'svm' else fit} " + " -> ".join(f"{v:.1f}" for v in acc)
                    + (f", then {' -> '.join(f'{v:.1f}' for v in top)}" if top else ""))
    return "; ".join(said), held


def _sanity(root: Path, profile: str) -> tuple[str, bool] | None:
    data = _results(root, profile, f"sanity_{profile}")
    step = "conv5-conv2"
    if data is None or step not in data["steps"]:
        return None
    r = {rule: data["summary"][rule]["spearman_abs"][step]["mean"]
         for rule in ("gradient", "deconvnet", "guided")}
    return (f"gradient {r['gradient']:.2f}, deconvnet {r['deconvnet']:.2f}, guided backprop "
            f"{r['guided']:.2f}", r["gradient"] < 0.2 and r["deconvnet"] > 0.5 and
            r["guided"] > 0.5)


# (claim, the paper's numbers, the check)
CLAIMS: list[tuple[str, str, Any]] = [
    ("Fig. 2: layers 3-5 are more class-specific than layer 1 and chance (mean count of the "
     "commonest class among a map's top-9, every map, layers 1-5)", "shown, not measured",
     _fig2),
    ("Table 2: ZFNet beats AlexNet (10-crop top-1 error %)", "38.4 against 40.5", _table2),
    ("Fig. 5: layer 1 jumps and layer 7 moves gradually and nearly linearly under translation "
     "and scale, and the output keeps its class more under them than under rotation (layer 1 "
     "-> layer 7; P kept: share of transformed images keeping half their class probability)",
     "shown, not measured", _fig5),
    ("Fig. 6: AlexNet's layer 1 misses the mid frequencies (mid-band share of what training "
     "added to the filters, AlexNet against ZFNet; testable where both first layers learned: "
     "cosine to their initial filters <= 0.71)", "shown, not measured", _fig6),
    ("Fig. 7: the class probability drops where the object is covered", "shown, not measured",
     _fig7),
    ("Table 1: at layer 5 the parts (right eye / left eye / nose) score below random patches, "
     "each with p < 0.05 (the share of random regions of its size scoring as low or lower)",
     "0.067 / 0.069 / 0.079 against 0.107", _table1),
    ("Table 4: pretrained beats from scratch by >= 30 points (Caltech-101, 15 per class, %)",
     "83.8 against 22.8", _table4),
    ("Table 7: accuracy rises with depth to layer 5, and layers 6 and 7 stay within 5 points "
     "of it (Caltech-101, 30 per class, %, layers 1-5, then 6 and 7)",
     "SVM 44.8 -> 66.2 -> 72.3 -> 76.6 -> 86.2, then 85.5 at layer 7; softmax at layers 5 and "
     "7 only", _table7),
    ("Sanity checks (Adebayo et al. 2018, beyond the paper): with conv5 to conv2 randomised, "
     "the gradient's projection of the class logit keeps a rank correlation (absolute values) "
     "below 0.2 with the trained network's, the deconvnet's and guided backprop's above 0.5",
     "not in the paper (Adebayo et al.: guided backprop barely changes, the gradient does)",
     _sanity),
]


def check(root: Path | None = None) -> list[dict[str, Any]]:
    """Each claim: its text, the paper's numbers and, per geometry, ``(numbers, held)`` or
    None where the record lacks them; ``held`` is None where the claim is not testable on the
    record's numbers (Fig. 6 on first layers that did not learn)."""
    root = root or repo_root()
    return [{"claim": text, "paper": paper,
             **{p: fn(root, p) for p in GEOMETRIES}} for text, paper, fn in CLAIMS]


VERDICTS = {True: "held", False: "not held", None: "not testable"}


def markdown(root: Path | None = None) -> str:
    """The claims as a Markdown table: the paper's numbers, then ours at each geometry with
    *held*, *not held* or *not testable*."""
    head = ["claim", "paper"] + [g for g in GEOMETRIES.values()]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for row in check(root):
        cells = [row["claim"], row["paper"]]
        for p in GEOMETRIES:
            got = row[p]
            cells.append("(not measured)" if got is None else f"{got[0]}: **{VERDICTS[got[1]]}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["CLAIMS", "GEOMETRIES", "LEARNED_SIMILARITY", "P_MAX", "TABLE4_GAP", "TABLE7_FLAT",
           "check", "markdown"]
