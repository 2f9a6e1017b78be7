"""A flip cube written to NetCDF chunk by chunk of images, so a search's memory does not grow with N."""

from __future__ import annotations

import netCDF4
import numpy as np
import xarray as xr

from onepixel.io import COMPRESSION_LEVEL, file_attrs, whole_item_chunks
from onepixel.search.cube import SEARCH_KIND

# Attributes of a chunk's cube that add up over chunks.
SUMMED = (
    "n_candidates",
    "n_adversarial",
    "n_base_errors",
    "n_on_manifold",
    "n_on_manifold_misclassified",
    "n_rechecked",
    "unique_window_pixel_pairs",
)


def add_up(chunk_attrs: list[dict]) -> dict:
    """The counts of the whole cube from its chunks' attributes, and its adversarial rate."""
    totals = {key: sum(attrs[key] for attrs in chunk_attrs) for key in SUMMED if key in chunk_attrs[0]}
    totals["adversarial_rate"] = float(totals["n_adversarial"] / max(totals["n_candidates"], 1))
    return totals


class CubeWriter:
    """Writes the cubes of consecutive image chunks into one NetCDF file at ``path``.

    The file is laid out from the first chunk (every variable with an
    ``image`` dim has it first); ``close`` adds the summed counts and the
    file attributes. Booleans are stored as xarray stores them (int8 with
    ``dtype="bool"``), so ``xarray.open_dataset`` reads the same cube.
    """

    def __init__(self, path, n_images: int):
        self.path = path
        self.n_images = n_images
        self.file = None
        self.written = 0
        self.chunk_attrs: list[dict] = []

    def _create(self, chunk: xr.Dataset) -> None:
        self.file = netCDF4.Dataset(self.path, "w", format="NETCDF4")
        for dim, size in chunk.sizes.items():
            self.file.createDimension(dim, self.n_images if dim == "image" else size)
        for name, var in chunk.variables.items():
            is_bool = var.dtype == bool
            dtype = np.int8 if is_bool else var.dtype
            shape = tuple(self.n_images if dim == "image" else chunk.sizes[dim] for dim in var.dims)
            chunks = whole_item_chunks(shape, np.dtype(dtype).itemsize) if var.ndim >= 3 else None
            out = self.file.createVariable(
                name,
                dtype,
                var.dims,
                zlib=True,
                complevel=COMPRESSION_LEVEL,
                chunksizes=chunks,
                fill_value=np.float32(np.nan) if var.dtype == np.float32 else None,
            )
            out.setncatts({**var.attrs, **({"dtype": "bool"} if is_bool else {})})
            if "image" not in var.dims:
                out[:] = var.values

    def write(self, chunk: xr.Dataset) -> None:
        if self.file is None:
            self._create(chunk)
        size = chunk.sizes["image"]
        for name, var in chunk.variables.items():
            if "image" in var.dims:
                values = var.values.astype(np.int8) if var.dtype == bool else var.values
                self.file[name][self.written : self.written + size] = values
        self.written += size
        self.chunk_attrs.append(dict(chunk.attrs))

    def close(self, attrs: dict) -> None:
        """The counts over all chunks, ``attrs`` and the file attributes; then the file is complete."""
        last = {key: value for key, value in self.chunk_attrs[-1].items() if key not in SUMMED}
        merged = {**last, **attrs, **add_up(self.chunk_attrs), **file_attrs(SEARCH_KIND)}
        self.file.setncatts({key: _attr(value) for key, value in merged.items()})
        self.file.close()
        self.file = None

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _attr(value):
    """NetCDF has no booleans or 64-bit Python ints in every reader: plain int/float/str."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
