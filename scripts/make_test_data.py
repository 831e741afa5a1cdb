#!/usr/bin/python3
"""Writes tests/data/: small, real samples of every data set the examples use,
in the data sets' own formats, so that the examples' --quick modes run and
assert on any machine (CTest passes --data tests/data).

    /usr/bin/python3 scripts/make_test_data.py [SOURCE_ROOT] [FASHION_DIR]

SOURCE_ROOT (default ../shared/data) holds mnist/, kannada-mnist/ and
cifar10-jpg/ as described in its README; FASHION_DIR (default
/usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist) the four
Fashion-MNIST IDX gz files. The samples are the first images of each file
(IDX) or of each class folder (JPEG), copied byte for byte, so the quick modes
see exactly what the full data would give them for the same image counts.
The output is deterministic (gzip mtime 0), so a rerun changes no file.

What is kept, and which quick mode needs it:
  mnist/          6,000 train + 2,000 test   mnist_cnn (6,000 / 2,000), 002 and 004
  fashion-mnist/  2,400 train + 1,000 test   002 --quick --dataset fashion
  kannada-mnist/  1,000 first + 500 last     003 (training split = first 1,000,
                                              held out = last 500 of the file)
  cifar10-jpg/    200 train + 100 test       001 (200 / 100 per class),
                  per class                  000 (5 / 5 per class)
"""
import gzip
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data")

MNIST = (6000, 2000)
FASHION = (2400, 1000)
KANNADA_FIRST, KANNADA_LAST = 1000, 500
CIFAR_PER_CLASS = {"train": 200, "test": 100}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = list(struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim]))
    item = 1
    for d in dims[1:]:
        item *= d
    body = data[4 + 4 * ndim :]
    if len(body) != dims[0] * item:
        raise SystemExit(f"{path}: {len(body)} bytes of data, header says {dims[0] * item}")
    return dims, item, body


def write_idx(path, dims, item, body, rows):
    """Writes the given rows (indices into the source) with the source's header layout."""
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(">" + "I" * len(dims), len(rows), *dims[1:])
    payload = b"".join(body[r * item : (r + 1) * item] for r in rows)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + payload)


def sample_idx(src_dir, dst_dir, names, rows_for):
    os.makedirs(dst_dir, exist_ok=True)
    for name in names:
        src = os.path.join(src_dir, name)
        if not os.path.isfile(src):
            raise SystemExit(f"missing {src}")
        dims, item, body = read_idx(src)
        rows = rows_for(name, dims[0])
        write_idx(os.path.join(dst_dir, name), dims, item, body, rows)
        print(f"{os.path.relpath(os.path.join(dst_dir, name))}: {len(rows)} of {dims[0]}")


def first_n(counts):
    def rows(name, total):
        n = counts[0] if name.startswith("train") else counts[1]
        return range(min(n, total))

    return rows


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "data")
    fashion = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    idx_names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for sub in ("mnist", "fashion-mnist", "kannada-mnist", "cifar10-jpg"):
        shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)

    sample_idx(os.path.join(source, "mnist"), os.path.join(OUT, "mnist"), idx_names, first_n(MNIST))
    sample_idx(fashion, os.path.join(OUT, "fashion-mnist"), idx_names, first_n(FASHION))
    sample_idx(os.path.join(source, "kannada-mnist"), os.path.join(OUT, "kannada-mnist"),
               ["X_kannada_MNIST_test-idx3-ubyte.gz", "y_kannada_MNIST_test-idx1-ubyte.gz"],
               lambda name, total: list(range(KANNADA_FIRST)) + list(range(total - KANNADA_LAST, total)))

    for split, per_class in CIFAR_PER_CLASS.items():
        src_split = os.path.join(source, "cifar10-jpg", split)
        classes = sorted(os.listdir(src_split))
        if len(classes) != 10:
            raise SystemExit(f"{src_split}: expected 10 class folders, found {len(classes)}")
        for c in classes:
            files = sorted(os.listdir(os.path.join(src_split, c)))[:per_class]
            dst = os.path.join(OUT, "cifar10-jpg", split, c)
            os.makedirs(dst, exist_ok=True)
            for f in files:
                shutil.copyfile(os.path.join(src_split, c, f), os.path.join(dst, f))
        print(f"{os.path.relpath(os.path.join(OUT, 'cifar10-jpg', split))}: {per_class} per class, 10 classes")


if __name__ == "__main__":
    main()
