import json

import numpy as np
import pytest
import xarray as xr

from onepixel.data.lines import read_dataset, write_dataset
from onepixel.io import ResultFileError, atomic_path, write_netcdf
from onepixel.models.cnn import Architecture, init_params
from onepixel.study.dataset_stage import study_dataset
from onepixel.training.checkpoint import read_checkpoint, restore_params, save_params


def test_dataset_netcdf_round_trip_keeps_values_and_attributes(tmp_path, config):
    ds = study_dataset(16, 4.0, config)
    path = tmp_path / "d.nc"
    write_dataset(ds, path)
    back = read_dataset(path)
    for name in ds.variables:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
        assert back[name].dtype == ds[name].dtype, name
        assert back[name].attrs.get("long_name") == ds[name].attrs.get("long_name")
    assert back["ambiguous"].dtype == bool
    assert json.loads(back.attrs["onepixel_config"]) == json.loads(ds.attrs["onepixel_config"])
    assert back.attrs["onepixel_git_commit"]
    assert "jax" in json.loads(back.attrs["onepixel_versions"])
    assert back["images"].encoding.get("zlib") is True


def test_same_config_same_dataset_file_content(tmp_path, config):
    a, b = study_dataset(16, 4.0, config), study_dataset(16, 4.0, config)
    xr.testing.assert_identical(a, b)


def test_corrupt_file_fails_with_one_clear_message(tmp_path):
    path = tmp_path / "D16_step2.0.nc"
    path.write_bytes(b"this is not netcdf")
    with pytest.raises(ResultFileError, match="not a readable NetCDF file.*rebuild"):
        read_dataset(path)


def test_foreign_netcdf_is_refused(tmp_path):
    path = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("a", np.arange(3))}).to_netcdf(path)
    with pytest.raises(ResultFileError, match="not an onepixel dataset file"):
        read_dataset(path)
    other_kind = tmp_path / "other.nc"
    write_netcdf(xr.Dataset({"x": ("a", np.arange(3))}), other_kind, "search")
    with pytest.raises(ResultFileError, match="expected 'dataset'"):
        read_dataset(other_kind)


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.nc"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def load_params(path, arch):
    """What every reader of a checkpoint does: read it, then check each array against ``arch``'s shapes."""
    return restore_params(read_checkpoint(path)[1], arch, path)


def test_checkpoint_round_trip_and_foreign_architecture(tmp_path):
    import jax

    arch = Architecture(16)
    params = init_params(arch, jax.random.key(0))
    path = tmp_path / "params.msgpack"
    save_params(params, path)
    back = load_params(path, arch)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ResultFileError, match="does not match the configured architecture"):
        load_params(path, Architecture(32))
    with pytest.raises(ResultFileError, match="does not match the configured architecture"):
        load_params(path, Architecture(16, dense_units=64))
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ResultFileError, match="not a readable checkpoint"):
        load_params(path, arch)


def test_checkpoint_carries_its_provenance_and_a_bare_one_is_refused(tmp_path):
    import jax
    from flax import serialization

    from onepixel.training.checkpoint import read_checkpoint

    arch = Architecture(16)
    params = init_params(arch, jax.random.key(0))
    path = tmp_path / "params.msgpack"
    save_params(params, path, {"size": 16, "angle_step": 2.0, "seed": 3, "onepixel_settings": "{}"})
    meta, _ = read_checkpoint(path)
    assert (meta["size"], meta["angle_step"], meta["seed"]) == (16, 2.0, 3)
    # A plain Flax checkpoint (or one of an older onepixel) holds no provenance.
    path.write_bytes(serialization.to_bytes(params))
    with pytest.raises(ResultFileError, match="not an onepixel checkpoint.*fix: `rm"):
        load_params(path, arch)


def test_settings_per_size_change_only_the_size_they_name(config):
    from onepixel.study.settings import dataset_settings, search_settings

    before = {d: search_settings(config, d) for d in (16, 18)}
    config["dataset"]["length_min_by_size"] = {"18": 14}
    assert search_settings(config, 16) == before[16]
    assert search_settings(config, 18) != before[18]
    assert dataset_settings(config, 18)["length_min"] == 14


def test_every_netcdf_file_carries_cf_global_attributes(tmp_path, config):
    ds = study_dataset(16, 4.0, config)
    write_dataset(ds, tmp_path / "d.nc")
    attrs = read_dataset(tmp_path / "d.nc").attrs
    assert attrs["Conventions"].startswith("CF-")
    assert "line images" in attrs["title"] and attrs["source"].startswith("onepixel ")
    assert "written by onepixel" in attrs["history"] and "One-Pixel Attacks" in attrs["references"]


def test_the_schema_is_package_data():
    from onepixel.study.config import SCHEMA_PATH, load_schema

    assert SCHEMA_PATH.parent.name == "study" and load_schema()["properties"]["sizes"]
