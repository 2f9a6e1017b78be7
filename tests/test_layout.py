"""The package's layout rules, read from the source: the library below the study, no cycles, no private names.

- Nothing outside ``onepixel/study/`` imports ``onepixel.study``.
- No import cycle among the package's modules (imports inside functions count too).
- No module imports another module's private (``_``-prefixed) name, nor reaches one
  through an imported module (``module._name``).
"""

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "onepixel"


def module_names(root: Path) -> dict[str, Path]:
    """{dotted module name: file} of every module under ``root`` (a package folder)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(path: Path, modules: dict[str, Path]):
    """(imported module, imported names, line) of each import of a package module in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    yield submodule, [], node.lineno
                else:
                    yield node.module, [alias.name], node.lineno


def private_attributes(path: Path, modules: dict[str, Path]):
    """(module alias, private attribute, line) where a module imported by name reaches a private name."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in modules:
            aliases |= {a.asname or a.name for a in node.names if f"{node.module}.{a.name}" in modules}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__"):
                yield node.value.id, node.attr, node.lineno


def layout_violations(root: Path) -> list[str]:
    """Every broken rule under the package folder ``root``, one line each."""
    modules = module_names(root)
    study = f"{root.name}.study"
    problems, graph = [], {name: set() for name in modules}
    for name, path in modules.items():
        for target, names, line in imports_of(path, modules):
            where = f"{path.relative_to(root.parent)}:{line}"
            inside_study = name == study or name.startswith(study + ".")
            if (target == study or target.startswith(study + ".")) and not inside_study:
                problems.append(f"{where}: {name} imports {target}: only {study} may import it")
            for imported in names:
                if imported.startswith("_") and target != name:
                    problems.append(f"{where}: {name} imports the private {target}.{imported}")
            if target != name:
                graph[name].add(target)
        for alias, attribute, line in private_attributes(path, modules):
            where = f"{path.relative_to(root.parent)}:{line}"
            problems.append(f"{where}: {name} uses the private {alias}.{attribute}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in import_cycles(graph)]
    return problems


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected group of modules, found by depth-first search."""
    cycles, done = [], set()
    for start in sorted(graph):
        stack, on_path = [(start, iter(sorted(graph[start])))], [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.pop()
                done.add(node)
            elif child in on_path:
                cycle = on_path[on_path.index(child) :] + [child]
                if not any(set(cycle) <= set(found) for found in cycles):
                    cycles.append(cycle)
            elif child not in done:
                stack.append((child, iter(sorted(graph[child]))))
                on_path.append(child)
    return cycles


def test_the_package_keeps_its_layout_rules():
    assert layout_violations(PACKAGE) == []


def test_the_rules_see_the_package_and_its_imports():
    modules = module_names(PACKAGE)
    assert {"onepixel.search.api", "onepixel.study.search_stage", "onepixel.search.fast.driver"} <= set(
        modules
    )
    stages = {target for target, _, _ in imports_of(modules["onepixel.study.search_stage"], modules)}
    assert {"onepixel.search.api", "onepixel.study.inputs"} <= stages


@pytest.mark.parametrize(
    ("module", "planted", "expected"),
    [
        ("search/api.py", "from onepixel.study.provenance import git_commit\n", "only onepixel.study may"),
        ("models/cnn.py", "def _late():\n    from onepixel.training import train\n", "import cycle"),
        ("data/lines.py", "from onepixel.data.flips import _secret\n", "imports the private"),
        ("training/train.py", "from onepixel.models import cnn\nx = cnn._phase_conv\n", "uses the private"),
    ],
)
def test_a_planted_violation_is_found(tmp_path, module, planted, expected):
    copy = tmp_path / "onepixel"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert layout_violations(copy) == []
    path = copy / module
    path.write_text(path.read_text() + "\n" + planted)
    found = layout_violations(copy)
    assert any(expected in line for line in found), found


def test_an_install_holds_every_subpackage_and_the_schema():
    """pyproject's package list (what a non-editable install copies) covers every folder of
    onepixel/ with modules, and its package data every file the package reads besides them."""
    import fnmatch
    import tomllib

    import setuptools

    root = PACKAGE.parent
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools.find_packages(where=str(root), include=settings["packages"]["find"]["include"]))
    on_disk = {
        ".".join(folder.relative_to(root).parts)
        for folder in [PACKAGE, *PACKAGE.rglob("*")]
        if folder.is_dir() and any(folder.glob("*.py"))
    }
    assert listed == on_disk
    data = settings["package-data"]
    for path in PACKAGE.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            package = ".".join(path.parent.relative_to(root).parts)
            patterns = data.get(package, [])
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), f"{path} is not in package-data"
