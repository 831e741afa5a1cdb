"""PIL's decode of three seed JPEGs, the reference for cae's libjpeg-turbo decoder.

tests/fixtures/image/<name>.rgb   the raw RGB bytes (H x W x 3, row-major) that
                                  PIL.Image.open(fuzz/seeds/image/<name>.jpg).convert("RGB")
                                  gives (torchvision's default image loader)

Runs inside tests/make_fixtures.py or alone: /usr/bin/python3 tests/fixturegen/gen_image_decode.py
"""
import pathlib

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
NAMES = ["cifar_cat_0000", "jpg_rgb420", "jpg_progressive"]


def generate(ctx=None):
    out = ROOT / "tests" / "fixtures" / "image"
    out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        img = Image.open(ROOT / "fuzz" / "seeds" / "image" / f"{name}.jpg").convert("RGB")
        (out / f"{name}.rgb").write_bytes(img.tobytes())


if __name__ == "__main__":
    generate()
