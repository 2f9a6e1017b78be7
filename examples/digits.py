"""The exact one-pixel search on a 10-class network: scikit-learn's bundled 8x8 digits, binarised and grey.

    python examples/digits.py                      # all 1,797 digits, 8 epochs
    python examples/digits.py --n-images 300 --check-plain --out digits.png

Trains a small onepixel.CNN (one conv block fits 8x8 inputs) with onepixel.train,
then returns the complete set of one-pixel flips that change its decision with
onepixel.flip_search, prints a summary and draws a heatmap. Then the same on
the grey digits (values in [0, 1]): every pixel set to black and to white
(the corners of the value box, ``bounds=(0, 1)``). No download: the digits
ship with scikit-learn.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import onepixel


def binary_digits(n_images: int | None, threshold: float = 8.0):
    """Digits with pixels >= threshold (of 16) set, duplicates removed; (images, labels)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images >= threshold).astype(np.uint8)
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    keep = np.sort(first)[:n_images]
    return images[keep], digits.target[keep].astype(np.int64)


def train_digits(images, labels, arch, epochs: int, seed: int = 0):
    """``onepixel.train``: Adam on the CNN's sigmoid outputs (the paper's loss), stopping at
    training accuracy 1.0 (argmax over the 10 classes) or after ``epochs``; returns the result."""
    training_cfg = {
        "learning_rate": 3e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "batch_size": 32,
        "max_epochs": epochs,
    }
    return onepixel.train(images, labels, arch, training_cfg, seed)


def draw(cube, images, png) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adversarial = cube["adversarial"].values
    example = int(np.argmax(np.where(cube["n_adversarial"].values > 0, -cube["n_adversarial"].values, -1e9)))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    heat = axes[0].imshow(adversarial.mean(axis=0), cmap="inferno", interpolation="nearest")
    axes[0].set_title("P(flipping this pixel is adversarial)", fontsize=9)
    fig.colorbar(heat, ax=axes[0], fraction=0.046)
    predicted = cube["label"].values
    per_class = [
        adversarial[predicted == c].any(axis=(1, 2)).mean() if (predicted == c).any() else 0
        for c in range(10)
    ]
    axes[1].bar(range(10), per_class, color="tab:red")
    axes[1].set_xticks(range(10))
    axes[1].set_title("share of images with >= 1 adversarial flip, by predicted class", fontsize=9)
    axes[2].imshow(images[example], cmap="gray_r", interpolation="nearest")
    rows, cols = np.nonzero(adversarial[example])
    axes[2].scatter(cols, rows, s=160, facecolors="none", edgecolors="red", linewidths=1.5)
    axes[2].set_title(
        f"digit {int(cube['label'].values[example])}: its {len(rows)} adversarial pixel(s)", fontsize=9
    )
    for ax in (axes[0], axes[2]):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Every one-pixel adversarial flip of a 10-class CNN on binarised 8x8 digits")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def grey_digits(n_images: int | None):
    """Digits as grey values in [0, 1] (16 levels), duplicates removed; (images, labels)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    keep = np.sort(first)[:n_images]
    return images[keep], digits.target[keep].astype(np.int64)


def search(name: str, images, labels, epochs: int, check_plain: bool, bounds=None) -> dict:
    """Train a 10-class CNN on these digits, search every one-pixel change, print a summary."""
    arch = onepixel.Architecture(8, conv_channels=(32,), dense_units=64, n_classes=10)
    started = time.perf_counter()
    trained = train_digits(images, labels, arch, epochs)
    train_seconds = time.perf_counter() - started
    # labels=None: a change is adversarial when it changes the network's own decision.
    cube = onepixel.flip_search(onepixel.CNN(arch), trained.params, images, bounds=bounds)
    accuracy = float((cube["label"].values == labels).mean())
    vulnerable = int((cube["n_adversarial"].values > 0).sum())
    change = "flips" if bounds is None else "changes to black or white (corners)"
    print(
        f"{len(images)} unique {name} digits, 10-class CNN trained {trained.epochs} epochs "
        f"in {train_seconds:.1f} s (training accuracy {trained.final_accuracy:.3f})"
    )
    print(
        f"training accuracy {accuracy:.3f}; {cube.attrs['n_candidates']:,} one-pixel {change} searched "
        f"({cube.attrs['search_method_used']} method, {cube.attrs['search_seconds']:.2f} s)"
    )
    print(
        f"{cube.attrs['n_adversarial']:,} adversarial (rate {cube.attrs['adversarial_rate']:.2e}); "
        f"{vulnerable} of {len(images)} images have at least one; "
        f"{cube.attrs['n_on_manifold']} land on another digit of the set (not counted)"
    )
    summary = {"cube": cube, "accuracy": accuracy, "vulnerable": vulnerable, "params": trained.params}
    if check_plain:
        plain = onepixel.flip_search(
            onepixel.CNN(arch), trained.params, images, bounds=bounds, method="plain"
        )
        differ = int((plain["misclassified"].values != cube["misclassified"].values).sum())
        print(
            f"plain search: {plain.attrs['search_seconds']:.2f} s, "
            f"decisions differing from the fast search: {differ}"
        )
        summary.update(plain=plain, differ=differ)
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=None, help="first N unique digits (default: all)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default="digits_one_pixel.png", help="heatmap PNG")
    parser.add_argument("--check-plain", action="store_true", help="also run the plain search and compare")
    args = parser.parse_args(argv)

    images, labels = binary_digits(args.n_images)
    binary = search("binarised", images, labels, args.epochs, args.check_plain)
    draw(binary["cube"], images, args.out)
    print(f"heatmap: {args.out}\n")
    grey_images, grey_labels = grey_digits(args.n_images)
    grey = search("grey", grey_images, grey_labels, args.epochs, args.check_plain, bounds=(0.0, 1.0))
    return {**binary, "grey": grey}


if __name__ == "__main__":
    main()
