"""The benchmark script (benchmarks/run.py, outside the package) for the smoke tests."""

import importlib.util

from .conftest import REPO


def benchmark_main(argv):
    spec = importlib.util.spec_from_file_location("onepixel_benchmarks", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(argv)
