"""examples/digits.py: the exact search on a 10-class CNN over scikit-learn's bundled digits."""

import importlib.util

import numpy as np

from .conftest import REPO


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_example_finds_every_flip_and_fast_equals_plain(tmp_path, capsys):
    digits = load_example("digits")
    png = tmp_path / "digits.png"
    result = digits.main(["--n-images", "200", "--epochs", "3", "--check-plain", "--out", str(png)])
    cube = result["cube"]
    assert cube.attrs["search_method_used"] == "fast" and cube.attrs["n_classes"] == 10
    assert cube["margin"].shape == (200, 8, 8)
    # The fast path covers the 10-class net: the same decision on every candidate as the plain path.
    assert result["differ"] == 0
    np.testing.assert_allclose(cube["margin"].values, result["plain"]["margin"].values, atol=1e-4)
    assert cube.attrs["n_adversarial"] > 0 and 0 < result["vulnerable"] <= 200
    out = capsys.readouterr().out
    assert "200 unique binarised digits" in out and "decisions differing from the fast search: 0" in out
    assert png.read_bytes().startswith(b"\x89PNG")
    grey = result["grey"]
    assert grey["cube"].attrs["search_method_used"] == "fast" and grey["differ"] == 0
    assert grey["cube"]["margin"].shape == (200, 2, 8, 8)
    np.testing.assert_allclose(grey["cube"]["margin"].values, grey["plain"]["margin"].values, atol=1e-4)
    assert grey["cube"].attrs["n_candidates"] == int(grey["cube"]["candidate"].sum()) < 200 * 2 * 64
    assert "200 unique grey digits" in out
