"""The paper's CNN in Flax (Keras defaults: VALID padding, floor pooling).

Conv 3x3 -> ReLU -> MaxPool 2 -> Conv 3x3 -> ReLU -> MaxPool 2 -> Dropout ->
Dense -> ReLU -> Dense 2. The network returns logits; the paper's sigmoid is
applied inside the loss, and classes are decided on logits because float32
sigmoids saturate to 1.0 and make false ties.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Architecture:
    """The paper's CNN family: conv blocks (VALID conv, ReLU, floor max-pool), dropout, two Dense layers.

    ``size`` is the input D (D x D binary images); ``conv_channels`` one entry per
    conv block; ``kernel`` and ``pool`` are shared by the blocks; ``n_classes``
    outputs (the paper: 2). Every argument is checked here (``ValueError``).
    """

    size: int
    conv_channels: tuple[int, ...] = (32, 32)
    kernel: int = 3
    pool: int = 2
    dense_units: int = 128
    dropout: float = 0.25
    n_classes: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(self.conv_channels))
        self._check_params()
        self.validate()

    def _check_params(self) -> None:
        def whole(name, value, smallest):
            if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
                raise ValueError(f"Architecture: {name}={value!r}; use a whole number >= {smallest}")

        whole("size", self.size, 1)
        if not self.conv_channels:
            raise ValueError("Architecture: conv_channels=(); give at least one conv block, e.g. (32, 32)")
        for channels in self.conv_channels:
            whole("conv_channels entry", channels, 1)
        whole("kernel", self.kernel, 1)
        whole("pool", self.pool, 1)
        whole("dense_units", self.dense_units, 1)
        whole("n_classes", self.n_classes, 2)
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, int | float)
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"Architecture: dropout={self.dropout!r}; use a rate in [0, 1)")

    @classmethod
    def from_config(cls, size: int, model_cfg: dict) -> Architecture:
        return cls(
            size=size,
            conv_channels=tuple(model_cfg["conv_channels"]),
            kernel=model_cfg["kernel"],
            pool=model_cfg["pool"],
            dense_units=model_cfg["dense_units"],
            dropout=model_cfg["dropout"],
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["conv_channels"] = list(self.conv_channels)
        return d

    def feature_sizes(self) -> list[int]:
        """Spatial size after each conv+pool block (VALID conv, floor pool)."""
        sizes, s = [], self.size
        for _ in self.conv_channels:
            s = (s - self.kernel + 1) // self.pool
            sizes.append(s)
        return sizes

    def validate(self) -> None:
        if self.feature_sizes()[-1] < 1:
            raise ValueError(
                f"model: D={self.size} is too small for {len(self.conv_channels)} conv "
                f"blocks of kernel {self.kernel} and pool {self.pool}; use a larger D "
                "or fewer model.conv_channels"
            )


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


def conv_relu_pool_by_phase(x: jax.Array, kernel: jax.Array, bias: jax.Array, pool: int) -> jax.Array:
    """max_pool(relu(conv(x) + bias)) computed per pooling phase, for training.

    Each of the pool x pool phases (conv outputs at rows pool*i + py, columns
    pool*j + px) is one matrix product of its strided patches with the kernel,
    so the full-resolution conv map, the slowest part of a D = 80 training
    step on XLA-CPU for a 1-channel input, is never built. Values equal the
    conv/ReLU/pool formulation up to float summation order (ReLU and the bias
    commute with the max); the phase maxima are taken in the order of
    ``max_pool_floor``, so ties split the gradient the same way.
    """
    k = kernel.shape[0]
    rows, cols = (x.shape[1] - k + 1) // pool, (x.shape[2] - k + 1) // pool
    weights = kernel.reshape(-1, kernel.shape[-1])
    pooled = None
    for py in range(pool):
        for px in range(pool):
            patches = jnp.concatenate(
                [
                    x[:, py + dy : py + dy + pool * rows : pool, px + dx : px + dx + pool * cols : pool, :]
                    for dy in range(k)
                    for dx in range(k)
                ],
                axis=-1,
            )
            phase = patches @ weights
            pooled = phase if pooled is None else jnp.maximum(pooled, phase)
    return nn.relu(pooled + bias)


class Conv(nn.Module):
    """``nn.Conv`` (VALID, same parameter names and initialisers) fused with ReLU and pooling."""

    features: int
    kernel_size: int
    pool: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if train and x.shape[-1] == 1:
            # One input channel: per-phase products beat the conv (see above);
            # with more channels XLA's convolution is faster.
            return conv_relu_pool_by_phase(x, kernel, bias, self.pool)
        return max_pool_floor(nn.relu(conv(x, kernel) + bias), self.pool, for_gradient=train)


class CNN(nn.Module):
    """The Flax module of an ``Architecture``: ``CNN(arch).apply({"params": p}, images)`` -> logits.

    ``images`` are (batch, D, D) in {0, 1}; ``train=True`` turns dropout on.
    ``onepixel.flip_search`` searches such a network with the exact fast method.
    """

    arch: Architecture

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        """images: (batch, D, D) in {0, 1}; returns logits (batch, n_classes)."""
        x = images.astype(jnp.float32)[..., None]
        for channels in self.arch.conv_channels:
            x = Conv(channels, self.arch.kernel, self.arch.pool)(x, train)
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


def predict(logits: jax.Array) -> jax.Array:
    return (margin(logits) > 0).astype(jnp.int8)
