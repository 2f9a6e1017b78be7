"""The first two conv blocks in training, computed only where an image's pixels reach.

On a zero background block 1's output is the constant relu(bias) wherever
its window holds no pixel, and the second conv's output is the constant
``background_out`` wherever its window sees none of those cells. A line of a
D = 80 image reaches at most 112 of block 1's 1,444 cells and 232 of the
second conv's 1,296 outputs (mean 61 and 130), so the training step computes
the first block at the cells reached (their windows, gathered, times the
kernel) and the second conv from those cells alone: each reached cell minus
the background, times the kernel's k² taps, is added to the k² outputs it
feeds, on top of the background output everywhere. JAX's gradient of these
gathers, products and additions is the gradient of the dense blocks, with
~4x fewer products at D = 80 (``docs/performance.md``, "Training").

Values equal the dense blocks up to float summation order. The counts of
cells and outputs reached are static shapes: ``active_sizes`` takes them
from the whole training set, once, so no batch holds more.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from onepixel.models.architecture import Architecture


def _geometry(size: int, kernel: int, pool: int) -> tuple[int, int, int]:
    """(window, block-1 cells the second conv reads, second-conv outputs the pooling keeps), per side."""
    pooled = (size - kernel + 1) // pool
    kept = (pooled - kernel + 1) // pool * pool
    return pool + kernel - 1, kept + kernel - 1, kept


def _window_any(occupied: np.ndarray, window: int, stride: int, cells: int) -> np.ndarray:
    """(B, cells, cells): any of ``occupied[:, stride*i + dy, stride*j + dx]`` for dy, dx < window."""
    out = np.zeros((occupied.shape[0], cells, cells), bool)
    span = stride * (cells - 1) + 1
    for dy in range(window):
        for dx in range(window):
            out = out | occupied[:, dy : dy + span : stride, dx : dx + span : stride]
    return out


def _reach(images: np.ndarray, arch: Architecture, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the block-1 cells (B, cells²) and second-conv outputs (B, kept²) its pixels reach."""
    window, cells, kept = _geometry(arch.size, arch.kernel, arch.pool)
    reached, outputs = [], []
    for start in range(0, len(images), chunk):
        occupied = np.asarray(images[start : start + chunk]) != 0
        cell = _window_any(occupied, window, arch.pool, cells)
        reached.append(cell.reshape(len(cell), -1))
        outputs.append(_window_any(cell, arch.kernel, 1, kept).reshape(len(cell), -1))
    return np.concatenate(reached), np.concatenate(outputs)


def _applies(images: np.ndarray, arch: Architecture) -> bool:
    """Two or more blocks, grey (B, D, D) images, and a second conv the pooling keeps outputs of."""
    return (
        len(arch.conv_channels) > 1
        and images.ndim == 3
        and len(images) > 0
        and (_geometry(arch.size, arch.kernel, arch.pool)[2] > 0)
    )


# Where the lines reach more of the second conv's outputs than this, the dense
# blocks are as fast: at D = 32 they reach 80 of its 144 (0.56) and an epoch
# takes half the dense one's time; at D = 16 they reach nearly all.
MOST_SHARE = 0.75


def _sizes(reached: np.ndarray, outputs: np.ndarray, most_share: float) -> tuple[int, int] | None:
    most_cells, most_outputs = int(reached.sum(1).max()), int(outputs.sum(1).max())
    if most_outputs > most_share * outputs.shape[1]:
        return None
    return max(most_cells, 1), max(most_outputs, 1)


def active_sizes(
    images: np.ndarray, arch: Architecture, most_share: float = MOST_SHARE
) -> tuple[int, int] | None:
    """The most block-1 cells and second-conv outputs any image reaches; None where dense blocks are as fast.

    None unless the net has two or more blocks, the images are grey (B, D, D)
    and the outputs reached are at most ``most_share`` of the second conv's
    (``MOST_SHARE``).
    """
    images = np.asarray(images)
    return _sizes(*_reach(images, arch), most_share) if _applies(images, arch) else None


def active_indices(images: np.ndarray, arch: Architecture, sizes: tuple[int, int]) -> dict:
    """Per image, what ``sparse_first_two_blocks`` gathers and where it adds (NumPy, once per training set).

    ``cell_pixel``: the first pixel of each reached cell's window (B, n_cells;
    -1 pads); ``cell_target``: per reached cell and tap (dy, dx) of the
    second conv, the flat output that tap of the cell feeds, (row - dy) * kept
    + col - dx (B, n_cells, kernel²; kept²: none, or a pad). ``sizes``'
    output count is checked, not used: the outputs reached are those the
    cells feed. Made here, not in the step: XLA-CPU fused their index
    arithmetic into every gathered element.
    """
    return _indices(*_reach(np.asarray(images), arch), arch, sizes)


def training_index(images: np.ndarray, arch: Architecture) -> dict | None:
    """``active_indices`` of a training set at its ``active_sizes``; None where the dense blocks are as fast.

    One pass over the images for both.
    """
    images = np.asarray(images)
    if not _applies(images, arch):
        return None
    reached, outputs = _reach(images, arch)
    sizes = _sizes(reached, outputs, MOST_SHARE)
    return None if sizes is None else _indices(reached, outputs, arch, sizes)


def _indices(reached, outputs, arch: Architecture, sizes: tuple[int, int], chunk: int = 2048) -> dict:
    n_cells, n_outputs = sizes
    size, kernel, pool = arch.size, arch.kernel, arch.pool
    _, cells, kept = _geometry(size, kernel, pool)
    if reached.sum(1).max() > n_cells or outputs.sum(1).max() > n_outputs:
        raise ValueError(f"active_indices: images reach more than sizes={sizes}; use active_sizes of them")
    taps = [(dy, dx) for dy in range(kernel) for dx in range(kernel)]
    parts = {"cell_pixel": [], "cell_target": []}
    for start in range(0, len(reached), chunk):
        reach = reached[start : start + chunk]
        # The reached cells first, in increasing order (a stable sort of "not reached").
        cell = np.argsort(~reach, axis=1, kind="stable")[:, :n_cells]
        cell_real = np.take_along_axis(reach, cell, axis=1)
        row, col = np.divmod(cell, cells)
        parts["cell_pixel"].append(np.where(cell_real, pool * row * size + pool * col, -1).astype(np.int32))
        targets = []
        for dy, dx in taps:
            out_row, out_col = row - dy, col - dx
            feeds = cell_real & (out_row >= 0) & (out_row < kept) & (out_col >= 0) & (out_col < kept)
            targets.append(np.where(feeds, out_row * kept + out_col, kept * kept))
        parts["cell_target"].append(np.stack(targets, axis=-1).astype(np.int32))
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def _phase_matrix(kernel: int, pool: int) -> np.ndarray:
    """(window², pool², kernel²): window pixel (wy, wx) meets phase (py, px) through tap (dy, dx)."""
    window = pool + kernel - 1
    matrix = np.zeros((window * window, pool * pool, kernel * kernel), np.float32)
    for py in range(pool):
        for px in range(pool):
            for dy in range(kernel):
                for dx in range(kernel):
                    matrix[(py + dy) * window + px + dx, py * pool + px, dy * kernel + dx] = 1
    return matrix


def sparse_first_two_blocks(images, index: dict, kernel1, bias1, kernel2, bias2, pool: int):
    """The second conv's output plus its bias, (B, kept, kept, C2), of (B, D, D) images on a zero background.

    Block 1 is conv, ReLU, floor max pooling; the second conv covers the rows
    and columns its own floor pooling keeps. ``index``: the batch's rows of
    ``active_indices``.
    """
    batch, size = images.shape[0], images.shape[1]
    kernel = kernel1.shape[0]
    window, _, kept = _geometry(size, kernel, pool)
    cell_pixel = index["cell_pixel"]
    n_cells = cell_pixel.shape[1]
    channels_in, channels_out = kernel2.shape[2], kernel2.shape[3]
    background = jax.nn.relu(bias1)  # block 1 where its window holds no pixel
    # Whole rows gathered by flat index (XLA-CPU's fast case).
    offsets = np.array([dy * size + dx for dy in range(window) for dx in range(window)], np.int32)
    first_pixel = jnp.maximum(cell_pixel, 0) + (jnp.arange(batch, dtype=jnp.int32) * size * size)[:, None]
    pixels = (first_pixel[..., None] + offsets).reshape(-1)
    windows = images.reshape(-1).at[pixels].get(mode="promise_in_bounds")
    windows = windows.reshape(batch * n_cells, -1)  # (B * n_cells, window²)
    per_phase = jnp.einsum("wpt,tc->wpc", _phase_matrix(kernel, pool), kernel1.reshape(kernel * kernel, -1))
    phases = (windows @ per_phase.reshape(windows.shape[1], -1)).reshape(batch, n_cells, pool * pool, -1)
    cells = jax.nn.relu(phases.max(axis=2) + bias1) - background
    # Each cell times every tap of the kernel, added to the output that tap feeds:
    # a scatter of the cells' (few) rows, not a gather of the outputs' patches
    # (k² rows each), 3x less work forward and back. Pad cells feed only the
    # extra row of each image, dropped below.
    per_tap = cells.reshape(-1, channels_in) @ kernel2.transpose(2, 0, 1, 3).reshape(channels_in, -1)
    background_out = background @ kernel2.reshape(kernel * kernel, -1, channels_out).sum(0) + bias2
    y = jnp.broadcast_to(background_out, (batch * (kept * kept + 1), channels_out))
    image_rows = (jnp.arange(batch, dtype=jnp.int32) * (kept * kept + 1))[:, None, None]
    rows = (index["cell_target"] + image_rows).reshape(-1)
    y = y.at[rows].add(per_tap.reshape(-1, channels_out), mode="promise_in_bounds")
    return y.reshape(batch, kept * kept + 1, -1)[:, :-1].reshape(batch, kept, kept, -1)
