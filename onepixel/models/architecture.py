"""The CNN family's geometry and settings, checked: a plain dataclass, no JAX (jobs that only read use it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
