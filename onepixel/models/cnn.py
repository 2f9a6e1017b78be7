"""The paper's CNN in Flax (Keras defaults: VALID padding, floor pooling).

Conv 3x3 -> ReLU -> MaxPool 2 -> Conv 3x3 -> ReLU -> MaxPool 2 -> Dropout ->
Dense -> ReLU -> Dense 2. The network returns logits; the paper's sigmoid is
applied inside the loss, and classes are decided on logits because float32
sigmoids saturate to 1.0 and make false ties.
"""

from __future__ import annotations

from functools import partial, reduce

import flax.linen as nn
import jax
import jax.numpy as jnp

from onepixel.models.architecture import Architecture
from onepixel.models.sparse import sparse_first_two_blocks


def max_pool_floor(x: jax.Array, pool: int, for_gradient: bool = True) -> jax.Array:
    """Non-overlapping max pooling (stride = window, remainder dropped).

    Both forms give identical values (a max is exact). On XLA-CPU the max over
    strided slices has a much cheaper gradient than ``reduce_window``, while
    ``reduce_window`` runs the forward pass several times faster: training
    uses slices, inference (evaluation, searches) uses ``reduce_window``.
    """
    if not for_gradient:
        window = (1,) * (x.ndim - 3) + (pool, pool, 1)
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")
    h, w = x.shape[-3] // pool * pool, x.shape[-2] // pool * pool
    x = x[..., :h, :w, :]
    out = x[..., 0::pool, 0::pool, :]
    for dy in range(pool):
        for dx in range(pool):
            if dy or dx:
                out = jnp.maximum(out, x[..., dy::pool, dx::pool, :])
    return out


def conv(x: jax.Array, kernel: jax.Array, padding="VALID") -> jax.Array:
    """Correlation of NHWC ``x`` with an HWIO kernel (what ``nn.Conv`` computes)."""
    dims = ("NHWC", "HWIO", "NHWC")
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=dims)


def _strided_window(x: jax.Array, rows: int, cols: int, pool: int, top: int, left: int) -> jax.Array:
    """``x[:, top + pool*i, left + pool*j, :]`` for i < rows, j < cols: one tap of one pooling phase."""
    return x[:, top : top + pool * rows : pool, left : left + pool * cols : pool, :]


def _phase_conv(
    x: jax.Array, kernel: jax.Array, rows: int, cols: int, pool: int, py: int, px: int
) -> jax.Array:
    """Conv outputs at rows pool*i + py, columns pool*j + px of a 1-channel NHWC ``x``: a sum over the taps.

    With one input channel every tap is a strided slice of the image times a
    kernel row, and XLA fuses the whole sum into one loop.
    """
    k = kernel.shape[0]
    total = None
    for dy in range(k):
        for dx in range(k):
            term = _strided_window(x, rows, cols, pool, py + dy, px + dx) * kernel[dy, dx, 0]
            total = term if total is None else total + term
    return total


def _first_maximum(phases: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The maximum over the leading axis and the index of its first occurrence, in one reduction.

    One variadic reduction: XLA materialises its result, where a chain of
    ``jnp.where`` comparisons was recomputed inside each of its consumers.
    """
    index_type = jnp.int8 if phases.shape[0] < 128 else jnp.int32
    ids = jax.lax.broadcasted_iota(index_type, phases.shape, 0)

    def first_max(a, b):
        (va, ia), (vb, ib) = a, b
        take_b = (vb > va) | ((vb == va) & (ib < ia))
        return jnp.where(take_b, vb, va), jnp.where(take_b, ib, ia)

    start = (jnp.asarray(-jnp.inf, phases.dtype), jnp.asarray(0, index_type))
    return jax.lax.reduce((phases, ids), start, first_max, (0,))


def _pooled_phases(
    x: jax.Array, kernel: jax.Array, bias: jax.Array, pool: int
) -> tuple[jax.Array, jax.Array]:
    """relu(max over the pool x pool phases + bias) and the winning phase (first maximum in window order)."""
    k = kernel.shape[0]
    rows, cols = (x.shape[1] - k + 1) // pool, (x.shape[2] - k + 1) // pool
    phases = jnp.stack(
        [_phase_conv(x, kernel, rows, cols, pool, p // pool, p % pool) for p in range(pool * pool)]
    )
    pooled, winner = _first_maximum(phases)
    return nn.relu(pooled + bias), winner


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv_relu_pool_single_channel(x: jax.Array, kernel: jax.Array, bias: jax.Array, pool: int) -> jax.Array:
    """max_pool(relu(conv(x) + bias)) of a 1-channel NHWC ``x``, for training; a hand-written gradient.

    The conv is computed per pooling phase (outputs at rows pool*i + py,
    columns pool*j + px), so the full-resolution conv map of a D = 80 image is
    never built. JAX's own gradient of that formulation spent most of a D = 80
    training step on 1- and 9-channel layouts and on the tie-splitting gradient
    of ``jnp.maximum``; the backward here is one masked select and one
    matrix product over all phases (``docs/notes/performance-record.md``, "Training speed").

    Values equal the conv/ReLU/pool formulation up to float summation order.
    The gradient goes to the first maximum of each window in row-major order,
    as the gradient of ``reduce_window`` (``nn.max_pool``) does; for the
    kernel and bias this equals any other split of a tie between phases
    with the same patch, the only ties binary images produce short of float
    coincidence.
    """
    return _pooled_phases(x, kernel, bias, pool)[0]


def _single_channel_forward(x, kernel, bias, pool):
    out, winner = _pooled_phases(x, kernel, bias, pool)
    # -1 marks outputs where the ReLU is off (its gradient is 0 at 0, as jax.nn.relu's).
    winner = jnp.where(out > 0, winner, jnp.asarray(-1, winner.dtype))
    return out, (x, kernel, winner)


def _single_channel_backward(pool, residuals, grad):
    x, kernel, winner = residuals
    k, channels = kernel.shape[0], kernel.shape[-1]
    rows, cols = winner.shape[1], winner.shape[2]
    phase_ids = jnp.arange(pool * pool, dtype=winner.dtype).reshape(-1, 1, 1, 1, 1)
    per_phase = jnp.where(winner[None] == phase_ids, grad[None], 0.0)  # (phases, B, rows, cols, C)
    taps = jnp.stack(
        [
            jnp.stack(
                [
                    _strided_window(x, rows, cols, pool, p // pool + dy, p % pool + dx)
                    for p in range(pool * pool)
                ]
            )
            for dy in range(k)
            for dx in range(k)
        ]
    )[..., 0]  # (k*k, phases, B, rows, cols)
    grad_kernel = (taps.reshape(k * k, -1) @ per_phase.reshape(-1, channels)).reshape(kernel.shape)
    grad_bias = jnp.where(winner >= 0, grad, 0.0).sum((0, 1, 2))
    # The image gradient (training never asks for it, so XLA drops it there).
    grad_x = jnp.zeros_like(x)
    for p in range(pool * pool):
        _, phase_vjp = jax.vjp(
            lambda image, p=p: _phase_conv(image, kernel, rows, cols, pool, p // pool, p % pool), x
        )
        grad_x = grad_x + phase_vjp(per_phase[p])[0]
    return grad_x, grad_kernel, grad_bias


conv_relu_pool_single_channel.defvjp(_single_channel_forward, _single_channel_backward)


def _pooled_channels_first(x: jax.Array, kernel: jax.Array, bias: jax.Array, pool: int) -> jax.Array:
    """``_pooled_phases(...)[0].transpose(3, 1, 2, 0)`` (C, rows, cols, B), computed in that order.

    The second conv's kernel gradient contracts over the batch, so XLA wants
    block 1's output with channels outermost and the batch innermost; a
    transpose of the (B, rows, cols, C) array strides through all of it (5 ms
    of a 52 ms D = 80 step), while the same taps summed in this order from the
    (tiny, 1-channel) image cost ~1 ms. Same products, sums and maxima in the
    same order, so the values are bit for bit the transpose.
    """
    k = kernel.shape[0]
    rows, cols = (x.shape[1] - k + 1) // pool, (x.shape[2] - k + 1) // pool
    image = x[..., 0].transpose(1, 2, 0)[None]  # (1, H, W, B): the batch innermost
    weights = kernel[..., None, None, None]  # a tap's weights kernel[dy, dx, 0] as (C, 1, 1, 1)
    phases = (_phase_conv(image, weights, rows, cols, pool, p // pool, p % pool) for p in range(pool * pool))
    pooled = reduce(jnp.maximum, phases)
    return nn.relu(pooled + bias[:, None, None, None])


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def first_block_for_second_conv(
    x: jax.Array, kernel: jax.Array, bias: jax.Array, pool: int
) -> tuple[jax.Array, jax.Array]:
    """``conv_relu_pool_single_channel`` and its output transposed to (C, rows, cols, B), for training.

    The transposed copy feeds ``conv_with_channels_first_copy``'s kernel gradient.
    """
    return _pooled_phases(x, kernel, bias, pool)[0], _pooled_channels_first(x, kernel, bias, pool)


def _first_block_forward(x, kernel, bias, pool):
    out, residuals = _single_channel_forward(x, kernel, bias, pool)
    return (out, _pooled_channels_first(x, kernel, bias, pool)), residuals


def _first_block_backward(pool, residuals, grads):
    grad, grad_channels_first = grads
    # The copy's cotangent is zero in the network (its consumer returns zeros); added for correctness.
    return _single_channel_backward(pool, residuals, grad + grad_channels_first.transpose(3, 1, 2, 0))


first_block_for_second_conv.defvjp(_first_block_forward, _first_block_backward)


@jax.custom_vjp
def conv_with_channels_first_copy(x: jax.Array, x_channels_first: jax.Array, kernel: jax.Array) -> jax.Array:
    """``conv(x, kernel)`` whose kernel gradient reads ``x_channels_first`` (= x.transpose(3, 1, 2, 0)).

    JAX's own kernel gradient is the same convolution on the transposed input
    (batch and channels swapped), which XLA makes with a transpose.
    """
    return conv(x, kernel)


def _copy_conv_forward(x, x_channels_first, kernel):
    return conv(x, kernel), (x_channels_first, kernel)


def _copy_conv_backward(residuals, grad):
    x_channels_first, kernel = residuals
    channels, rows, cols, batch = x_channels_first.shape
    image_shape = jax.ShapeDtypeStruct((batch, rows, cols, channels), grad.dtype)
    (grad_x,) = jax.linear_transpose(lambda image: conv(image, kernel), image_shape)(grad)
    # sum over b, i, j of x[b, i + dy, j + dx, c] grad[b, i, j, o]: the batch is the contracted feature.
    grad_kernel = conv(x_channels_first, grad.transpose(1, 2, 0, 3)).transpose(1, 2, 0, 3)
    return grad_x, jnp.zeros_like(x_channels_first), grad_kernel


conv_with_channels_first_copy.defvjp(_copy_conv_forward, _copy_conv_backward)


class Conv(nn.Module):
    """``nn.Conv`` (VALID, same parameter names and initialisers) fused with ReLU and pooling."""

    features: int
    kernel_size: int
    pool: int

    @nn.compact
    def __call__(
        self,
        x: jax.Array | None,
        train: bool,
        x_channels_first=None,
        channels_first_out: bool = False,
        in_features: int | None = None,
    ) -> tuple[jax.Array, jax.Array | None]:
        """The block's output and, in training where ``channels_first_out``, its (C, rows, cols, B) copy.

        ``x_channels_first``: ``x`` transposed to (C, H, W, B), from the block before (training only).
        ``x`` None: the block's (kernel, bias) of ``in_features`` input channels, computing nothing.
        """
        k = self.kernel_size
        features_in = in_features if x is None else x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, features_in, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if x is None:
            return kernel, bias
        if train and x.shape[-1] == 1:
            # One input channel: the per-phase form beats the conv (see above);
            # with more channels XLA's convolution is faster.
            if channels_first_out:
                return first_block_for_second_conv(x, kernel, bias, self.pool)
            return conv_relu_pool_single_channel(x, kernel, bias, self.pool), None
        if not train:
            return max_pool_floor(nn.relu(conv(x, kernel) + bias), self.pool, for_gradient=False), None
        # Only the rows and columns the floor pooling keeps: at D = 80 the
        # second conv then makes 36 x 36 outputs, not 37 x 37, in all three
        # of its products (the same values: each output sees only its window).
        rows, cols = (((n - k + 1) // self.pool * self.pool + k - 1) for n in x.shape[1:3])
        x = x[:, :rows, :cols]
        if x_channels_first is None:
            y = conv(x, kernel)
        else:
            y = conv_with_channels_first_copy(x, x_channels_first[:, :rows, :cols], kernel)
        return max_pool_floor(nn.relu(y + bias), self.pool, for_gradient=True), None


class CNN(nn.Module):
    """The Flax module of an ``Architecture``: ``CNN(arch).apply({"params": p}, images)`` -> logits.

    ``images`` are (batch, D, D) (the paper's: in {0, 1}) or (batch, D, D, C)
    for a net initialised on C channels; ``train=True`` turns dropout on.
    ``onepixel.flip_search`` searches such a network with the exact fast method.
    """

    arch: Architecture

    @staticmethod
    def from_onnx(model) -> tuple[CNN, dict]:
        """``(CNN, params)`` from an ONNX graph of this family (a path or ``onnx.ModelProto``).

        A model trained in PyTorch (``nn.Sequential`` of Conv2d, ReLU,
        MaxPool2d blocks, Flatten, Linear, ReLU, Linear) and exported with
        ``torch.onnx.export`` gets the exact fast search. Needs ``onnx``; a
        graph outside the family is a ``ValueError`` naming the first node
        that does not fit.
        """
        from onepixel.models.onnx_import import cnn_from_onnx

        arch, params = cnn_from_onnx(model)
        return CNN(arch), jax.tree.map(jnp.asarray, params)

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False, sparse_index: dict | None = None) -> jax.Array:
        """images: (batch, D, D) grey or (batch, D, D, C) colour; returns logits (batch, n_classes).

        ``sparse_index`` (training, grey images on a zero background): the
        batch's ``onepixel.models.sparse.active_indices``; the first two blocks
        are then computed only where the pixels reach.
        """
        x = images.astype(jnp.float32)
        x = x[..., None] if x.ndim == 3 else x
        x_channels_first = None
        blocks, kernel, pool = self.arch.conv_channels, self.arch.kernel, self.arch.pool
        first = 0
        if train and sparse_index is not None and x.shape[-1] == 1 and len(blocks) > 1:
            kernel1, bias1 = Conv(blocks[0], kernel, pool)(None, train, in_features=1)
            kernel2, bias2 = Conv(blocks[1], kernel, pool)(None, train, in_features=blocks[0])
            y = sparse_first_two_blocks(x[..., 0], sparse_index, kernel1, bias1, kernel2, bias2, pool)
            x, first = max_pool_floor(nn.relu(y), pool, for_gradient=True), 2
        for index in range(first, len(blocks)):
            # Block 1 hands block 2 its output transposed as well (training, 1 input channel).
            hand_on = train and index == 0 and len(blocks) > 1
            x, x_channels_first = Conv(blocks[index], kernel, pool)(
                x, train, x_channels_first, channels_first_out=hand_on
            )
        x = nn.Dropout(self.arch.dropout, deterministic=not train)(x)
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.arch.dense_units)(x))
        return nn.Dense(self.arch.n_classes)(x)


def init_params(arch: Architecture, key: jax.Array):
    model = CNN(arch)
    return model.init(key, jnp.zeros((1, arch.size, arch.size), jnp.float32))["params"]


def param_count(params) -> int:
    return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))


def margin(logits: jax.Array) -> jax.Array:
    """Logit margin of class 1 over class 0; > 0 means class 1."""
    return logits[..., 1] - logits[..., 0]
