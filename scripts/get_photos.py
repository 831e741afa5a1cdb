#!/usr/bin/python3
"""Prepares the codec's photographs from Debian's wallpaper packages.

  /usr/bin/python3 scripts/get_photos.py [--out data/photos] [--test-crops]

Reads models/codec/photos_train.txt and photos_eval.txt (a Plasma wallpaper
directory stands for its largest image), and writes Kodak-like PNGs: the
training photographs downscaled so the short side is 768 px (more crops per
image), the evaluation ones to a short side of 512 px, into OUT/train and
OUT/eval (data/ is outside git). The packages (plasma-workspace-wallpapers,
mate-backgrounds) are in scripts/setup.sh; install them with apt-get if the
files are missing. --test-crops rewrites tests/data/photos/ (two 192x128 crops
of training photographs, for train_codec --quick).
"""
import argparse
import glob
import os
import sys

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resolve(entry):
    if os.path.isdir(entry):  # a Plasma wallpaper: its largest resolution
        files = glob.glob(os.path.join(entry, "contents", "images", "*"))
        if not files:
            sys.exit(f"{entry}: no images (is plasma-workspace-wallpapers installed?)")
        return max(files, key=lambda f: Image.open(f).size[0] * Image.open(f).size[1])
    if not os.path.exists(entry):
        sys.exit(f"{entry}: missing (apt-get install plasma-workspace-wallpapers mate-backgrounds)")
    return entry


def names(list_file):
    with open(os.path.join(ROOT, "models", "codec", list_file)) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def prepare(entry, short_side):
    im = Image.open(resolve(entry)).convert("RGB")
    w, h = im.size
    scale = short_side / min(w, h)
    return im.resize((round(w * scale), round(h * scale)), Image.LANCZOS)


def stem(entry):
    return os.path.splitext(os.path.basename(entry.rstrip("/")))[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "photos"))
    ap.add_argument("--test-crops", action="store_true")
    a = ap.parse_args()
    for split, side in (("train", 768), ("eval", 512)):
        os.makedirs(os.path.join(a.out, split), exist_ok=True)
        for e in names(f"photos_{split}.txt"):
            path = os.path.join(a.out, split, stem(e) + ".png")
            prepare(e, side).save(path)
            print(path)
    if a.test_crops:
        d = os.path.join(ROOT, "tests", "data", "photos")
        os.makedirs(d, exist_ok=True)
        for e in names("photos_train.txt")[:2]:
            im = prepare(e, 256)
            w, h = im.size
            im.crop(((w - 192) // 2, (h - 128) // 2, (w + 192) // 2, (h + 128) // 2)).save(
                os.path.join(d, stem(e) + ".png"))


if __name__ == "__main__":
    main()
