#!/usr/bin/python3
"""Plots training curves from a history CSV (cae::train::History::save_csv).

    /usr/bin/python3 scripts/plot_curves.py history.csv -o curves.png [--title "..."]

Columns used: epoch, train_loss, test_loss, train_acc, test_acc. Any of them may
be missing, and empty cells are missing values (gaps in the curves); other
columns (lr, seconds, ...) are ignored. Loss goes in the left panel and
accuracy (a fraction, drawn in percent) in the right one; a panel without data
is left out. Needs Debian's python3-matplotlib; without it, use the built-in
C++ renderer (cae::figures::save_history_plot).
"""
import argparse
import csv
import math
import sys


def read_history(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            sys.exit(f"{path}: empty file, expected a header row")
        columns = {name.strip(): [] for name in reader.fieldnames}
        for line, row in enumerate(reader, start=2):
            for name in reader.fieldnames:
                cell = (row.get(name) or "").strip()
                try:
                    columns[name.strip()].append(float(cell) if cell else math.nan)
                except ValueError:
                    sys.exit(f"{path}: row {line}, column '{name}': '{cell}' is not a number")
    return columns


def has_values(values):
    return values is not None and any(math.isfinite(v) for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="history CSV with columns epoch, train_loss, test_loss, train_acc, test_acc")
    parser.add_argument("-o", "--output", help="PNG to write (default: the CSV's name with .png)")
    parser.add_argument("--title", default=None, help="figure title")
    args = parser.parse_args()
    output = args.output or (args.csv[:-4] if args.csv.endswith(".csv") else args.csv) + ".png"

    h = read_history(args.csv)
    n = max((len(v) for v in h.values()), default=0)
    epochs = h.get("epoch") or list(range(1, n + 1))

    panels = []
    if has_values(h.get("train_loss")) or has_values(h.get("test_loss")):
        panels.append(("Loss", [("train", h.get("train_loss")), ("test", h.get("test_loss"))], 1.0))
    if has_values(h.get("train_acc")) or has_values(h.get("test_acc")):
        acc = [v for k in ("train_acc", "test_acc") for v in (h.get(k) or []) if math.isfinite(v)]
        scale = 100.0 if max(acc) <= 1.0 else 1.0  # fractions (as History writes them) or percent
        panels.append(("Accuracy [%]", [("train", h.get("train_acc")), ("test", h.get("test_acc"))], scale))
    if not panels:
        sys.exit(f"{args.csv}: none of train_loss, test_loss, train_acc, test_acc has a value")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (label, series, scale) in zip(axes[0], panels):
        # Colours C0 (train) and C1 (test), as the C++ renderer draws them.
        for colour, (name, values) in zip(("C0", "C1"), series):
            if has_values(values):
                ax.plot(epochs, [v * scale for v in values], color=colour, marker="." if n < 30 else None,
                        label=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
