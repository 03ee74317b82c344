"""What a complete copy of each natural-resolution data set holds: files per class.

The counts are the official archives' and were checked file by file on the public copies
(2026-12, see ``docs/data.md``): Caltech-101's against the project's 96-pixel mirror (made from
the official ``101_ObjectCategories.tar.gz``) and ``taibarehm/CVassimgement``'s
``caltech-101/``; Imagewoof2's against ``q878787/imagewoof2-320`` (the 9,025 / 3,929 of fastai's
``noisy_imagewoof.csv``); Imagenette2's against ``thunderInfy/imagenette`` (9,469 / 3,925, as
fastai's ``imagenette2``); the ImageNet examples against ``EliSchwartz/imagenet-sample-images``
(one file per ImageNet class, listed in ``imagenet_examples.txt``).

Paper: Sec. 5.2 (Caltech-101, Table 4), Sec. 4.2 (the dog faces of Fig. 8, Table 1).
"""

from __future__ import annotations

from pathlib import Path

# 101 object classes and BACKGROUND_Google (its 468 files include ``tmp``, a JPEG without an
# extension): 9,145 files, as in 101_ObjectCategories.tar.gz
CALTECH101_COUNTS: dict[str, int] = {
    "BACKGROUND_Google": 468, "Faces": 435, "Faces_easy": 435, "Leopards": 200, "Motorbikes": 798,
    "accordion": 55, "airplanes": 800, "anchor": 42, "ant": 42, "barrel": 47, "bass": 54,
    "beaver": 46, "binocular": 33, "bonsai": 128, "brain": 98, "brontosaurus": 43, "buddha": 85,
    "butterfly": 91, "camera": 50, "cannon": 43, "car_side": 123, "ceiling_fan": 47,
    "cellphone": 59, "chair": 62, "chandelier": 107, "cougar_body": 47, "cougar_face": 69,
    "crab": 73, "crayfish": 70, "crocodile": 50, "crocodile_head": 51, "cup": 57, "dalmatian": 67,
    "dollar_bill": 52, "dolphin": 65, "dragonfly": 68, "electric_guitar": 75, "elephant": 64,
    "emu": 53, "euphonium": 64, "ewer": 85, "ferry": 67, "flamingo": 67, "flamingo_head": 45,
    "garfield": 34, "gerenuk": 34, "gramophone": 51, "grand_piano": 99, "hawksbill": 100,
    "headphone": 42, "hedgehog": 54, "helicopter": 88, "ibis": 80, "inline_skate": 31,
    "joshua_tree": 64, "kangaroo": 86, "ketch": 114, "lamp": 61, "laptop": 81, "llama": 78,
    "lobster": 41, "lotus": 66, "mandolin": 43, "mayfly": 40, "menorah": 87, "metronome": 32,
    "minaret": 76, "nautilus": 55, "octopus": 35, "okapi": 39, "pagoda": 47, "panda": 38,
    "pigeon": 45, "pizza": 53, "platypus": 34, "pyramid": 57, "revolver": 82, "rhino": 59,
    "rooster": 49, "saxophone": 40, "schooner": 63, "scissors": 39, "scorpion": 84,
    "sea_horse": 57, "snoopy": 35, "soccer_ball": 64, "stapler": 45, "starfish": 86,
    "stegosaurus": 59, "stop_sign": 64, "strawberry": 35, "sunflower": 85, "tick": 49,
    "trilobite": 86, "umbrella": 75, "watch": 239, "water_lilly": 37, "wheelchair": 59,
    "wild_cat": 34, "windsor_chair": 56, "wrench": 39, "yin_yang": 60,
}
# absent from the public copy (its git blob is missing): tolerated, and said, at install
CALTECH101_ABSENT: tuple[str, ...] = ("BACKGROUND_Google/image_0273.jpg",)
# classes the public copy re-saved as greyscale (1,360 images that are colour in the official
# archive: BACKGROUND_Google 436, accordion 49, airplanes 800, anchor 41, ant 34); the official
# archive itself holds 411 greyscale images (car_side's 123 among them)
CALTECH101_RESAVED_GREYSCALE: tuple[str, ...] = (
    "BACKGROUND_Google", "accordion", "airplanes", "anchor", "ant")

# Imagewoof2: 10 dog breeds (fastai's imagewoof2, 70/30 split of Dec. 2019)
IMAGEWOOF2_COUNTS: dict[str, dict[str, int]] = {
    "train": {"n02086240": 941, "n02087394": 942, "n02088364": 932, "n02089973": 580,
              "n02093754": 949, "n02096294": 943, "n02099601": 949, "n02105641": 928,
              "n02111889": 921, "n02115641": 940},
    "val": {"n02086240": 409, "n02087394": 408, "n02088364": 418, "n02089973": 224,
            "n02093754": 401, "n02096294": 407, "n02099601": 401, "n02105641": 422,
            "n02111889": 429, "n02115641": 410},
}

# Imagenette2: 10 easily told ImageNet classes (fastai's imagenette2)
IMAGENETTE2_COUNTS: dict[str, dict[str, int]] = {
    "train": {"n01440764": 963, "n02102040": 955, "n02979186": 993, "n03000684": 858,
              "n03028079": 941, "n03394916": 956, "n03417042": 961, "n03425413": 931,
              "n03445777": 951, "n03888257": 960},
    "val": {"n01440764": 387, "n02102040": 395, "n02979186": 357, "n03000684": 386,
            "n03028079": 409, "n03394916": 394, "n03417042": 389, "n03425413": 419,
            "n03445777": 399, "n03888257": 390},
}

EXAMPLES_LIST = Path(__file__).with_name("imagenet_examples.txt")


def example_files() -> dict[str, str]:
    """The ImageNet examples' file names by WordNet id (``n01440764`` ->
    ``n01440764_tench.JPEG``): one image for each of the 1,000 ImageNet classes."""
    names = EXAMPLES_LIST.read_text().split("\n")
    return {n.split("_", 1)[0]: n for n in names if n}


def class_names(wnids: list[str]) -> list[str]:
    """Readable names of ImageNet classes (``n02099601`` -> ``golden retriever``), from the
    examples' file names; a WordNet id not among ImageNet's 1,000 stays as it is."""
    files = example_files()
    return [files[w].split("_", 1)[1].rsplit(".", 1)[0].replace("_", " ") if w in files else w
            for w in wnids]


def split_counts(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """``{"train": {wnid: n}, ...}`` as ``{"train/<wnid>": n, ...}``: the class folders of the
    official layout, relative to its top folder, with the files each must hold."""
    return {f"{split}/{w}": n for split, per in counts.items() for w, n in per.items()}


__all__ = ["CALTECH101_ABSENT", "CALTECH101_COUNTS", "CALTECH101_RESAVED_GREYSCALE",
           "EXAMPLES_LIST", "IMAGENETTE2_COUNTS", "IMAGEWOOF2_COUNTS", "class_names",
           "example_files", "split_counts"]
