#!/usr/bin/python3
"""Writes the committed seed images of fuzz_image into fuzz/seeds/image/: every
PNG, BMP and JPEG variant the decoders accept, a few they must refuse, and two
CIFAR-10 test images (real photographs as JPEG). Needs PIL; the seeds are
committed so that CI does not. Usage: fuzz/make_image_seeds.py [CIFAR10_JPG_DIR]"""
import io
import os
import shutil
import struct
import sys
import zlib

from PIL import Image

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "image")
os.makedirs(out, exist_ok=True)


def gradient(mode, w=7, h=5):
    img = Image.new("RGBA", (w, h))
    img.putdata([(x * 36, y * 50, (x + y) * 20, 255 - x * 30) for y in range(h) for x in range(w)])
    return img.convert(mode) if mode != "RGBA" else img


def save(name, img, **kw):
    img.save(os.path.join(out, name), **kw)


for mode in ["L", "LA", "RGB", "RGBA", "1"]:
    save(f"png_{mode}.png", gradient(mode))
pal = gradient("RGB").convert("P", palette=Image.ADAPTIVE, colors=16)
save("png_palette_trns.png", pal, transparency=3)
save("png_palette.png", pal)
save("png_16bit.png", gradient("L").convert("I;16"))  # refused: 16-bit
for mode in ["RGB", "L", "P", "1", "RGBA"]:
    save(f"bmp_{mode}.bmp", gradient(mode) if mode != "P" else pal)
save("jpg_rgb420.jpg", gradient("RGB", 17, 9), quality=80)
save("jpg_rgb444.jpg", gradient("RGB", 17, 9), quality=95, subsampling=0)
save("jpg_grey.jpg", gradient("L", 17, 9))
save("jpg_progressive.jpg", gradient("RGB", 17, 9), progressive=True)
save("jpg_cmyk.jpg", gradient("RGB", 8, 8).convert("CMYK"))  # refused: CMYK


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# Adam7-interlaced 8-bit grey, which PIL does not write.
w, h = 9, 9
raw = b"".join(b"\x00" + bytes((x * 28 + y) & 255 for x in range(w)) for y in range(h))
rows = []
for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
    for y in range(y0, h, dy):
        line = bytes(raw[y * (w + 1) + 1 + x] for x in range(x0, w, dx))
        if line:
            rows.append(b"\x00" + line)
ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)
with open(os.path.join(out, "png_interlaced.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"".join(rows))) + png_chunk(b"IEND", b""))

# The crafted file: a 16-bit binary PPM of 2x2 pixels, 24 bytes of data.
with open(os.path.join(out, "ppm16_named_png.png"), "wb") as f:
    f.write(b"P6\n2 2\n65535\n" + bytes(range(24)))

cifar = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/cifar10-jpg"
for cls, n in [("cat", "0000.jpg"), ("ship", "0001.jpg")]:
    src = os.path.join(cifar, "test", cls, n)
    if os.path.exists(src):
        shutil.copy(src, os.path.join(out, f"cifar_{cls}_{n}"))
print("wrote", len(os.listdir(out)), "seeds to", out)
