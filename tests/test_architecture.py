"""The package's structure: imports point down, no package cycle, Qt only in the GUI, the twin only
where the backend is chosen, and one exception tree.

Read from the source with :mod:`ast` (no module is imported), so an import inside a function or
under ``if TYPE_CHECKING:`` counts like any other: it is still a dependency, only a later one.
The checker is tested on small made-up packages too, so this test can fail.
"""

from __future__ import annotations

import ast
import builtins
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "station"

#: The layer order, bottom first, written once. A unit (a subpackage, or a top-level module such as
#: ``errors``) may import units on lower rows only; units on one row are siblings and import
#: neither each other nor anything above. ``station`` itself is the package's ``__init__``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("station", "errors"),
    ("roles",),  # who may do what, a pure table the store, the settings and front ends share
    ("settings",),  # the one settings table: low enough for config, the cache, the registry and the twin
    # paths: where package data and the user's files live (overrides come from the settings);
    # procs: whether the process a lease, bench or twin host names as its owner still runs
    ("paths", "procs"),
    ("domain", "config"),
    ("firmware", "store", "protocol"),  # protocol: wire formats both the station and the twin speak
    ("sim",),  # the twin: speaks the domain's and firmware's formats, never the station's transports
    ("hw",),
    ("labels",),
    ("profile",),
    ("ftest",),
    ("pipeline", "cloud", "export"),
    ("app",),
    ("cli", "ui"),
    ("__main__",),
)

#: Single imports allowed against the table, each with its reason. Kept to module pairs so that
#: allowing one never lets the rest of a package follow.
ALLOWED_EDGES: dict[tuple[str, str], str] = {
    ("station.cli.gui_cmds", "station.ui.app"): "`station gui` is how an operator starts the window",
}

#: Where the twin may be imported: the one place that chooses real or simulated hardware, the
#: application module that builds and handles twins for ``station sim`` and ``station demo``, and
#: the window's demo bench controls.
SIM_IMPORTERS = ("station.hw.backend", "station.app.bench", "station.ui.demo")
#: What the command line imports for its work: the application layer, the one error tree, the
#: domain's value types, and itself (plus the package's ``__version__`` and ALLOWED_EDGES). The
#: CLI parses, calls ``station.app`` and prints, so the GUI never has to copy a command's work.
CLI_MAY_IMPORT = ("app", "errors", "domain", "cli")
QT_PACKAGES = ("PySide6", "shiboken6")
QT_UNIT = "ui"
#: Exceptions the twin raises model the hardware's own signals (bus fault, USB stall), not station errors.
#: A private exception (``_Stalled``) that its module raises and catches itself never reaches a
#: caller, so it is not part of the tree either.
OWN_EXCEPTIONS_ALLOWED = ("station.errors", "station.sim")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. station.hw.swd
    target: str  # what it imports, e.g. station.errors
    line: int


@functools.cache
def _tree(path: Path, mtime_ns: int) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def parse(path: Path) -> ast.Module:
    return _tree(path, path.stat().st_mtime_ns)


def module_name(root: Path, path: Path) -> str:
    parts = (root.name, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import in a file (module level, in functions, under TYPE_CHECKING), names resolved."""
    mod = module_name(root, path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: list[Import] = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            out.extend(Import(mod, a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from station import hw`` imports the subpackage: count the name, not just the package
            names = [f"{target}.{a.name}" for a in node.names] if target == root.name else [target]
            out.extend(Import(mod, t, node.lineno) for t in names)
    return out


def unit_of(root: Path, module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return root.name
    candidate = parts[1]
    return candidate if (root / candidate).is_dir() or (root / f"{candidate}.py").exists() else root.name


def layer_violations(root: Path, layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """Upward and sideways imports between units, and units missing from ``layers``."""
    level = {unit: i for i, row in enumerate(layers) for unit in row}
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for imp in imports_of(root, path):
            if imp.target.split(".")[0] != root.name:
                continue
            src, dst = unit_of(root, imp.module), unit_of(root, imp.target)
            if src == dst or (imp.module, imp.target) in ALLOWED_EDGES:
                continue
            for unit in (src, dst):
                if unit not in level:
                    problems.append(f"{imp.module}: unit {unit!r} is in no layer; add it to LAYERS")
            if src in level and dst in level and level[dst] >= level[src]:
                way = "sideways" if level[dst] == level[src] else "up"
                problems.append(f"{imp.module}:{imp.line} imports {imp.target} ({src} -> {dst} points {way})")
    return problems


def qt_violations(root: Path) -> list[str]:
    return [
        f"{imp.module}:{imp.line} imports {imp.target} (Qt belongs in {root.name}.{QT_UNIT})"
        for path in sorted(root.rglob("*.py"))
        for imp in imports_of(root, path)
        if imp.target.split(".")[0] in QT_PACKAGES and unit_of(root, imp.module) != QT_UNIT
    ]


def sim_violations(root: Path, allowed: tuple[str, ...] = SIM_IMPORTERS) -> list[str]:
    sim = f"{root.name}.sim"
    return [
        f"{imp.module}:{imp.line} imports the twin ({imp.target}); only {', '.join(allowed)} may"
        for path in sorted(root.rglob("*.py"))
        for imp in imports_of(root, path)
        if (imp.target == sim or imp.target.startswith(sim + "."))
        and not (imp.module == sim or imp.module.startswith(sim + "."))
        and imp.module not in allowed
    ]


def cli_violations(root: Path, allowed: tuple[str, ...] = CLI_MAY_IMPORT) -> list[str]:
    """Imports of the ``cli`` package that reach past the application layer into the core."""
    pkg = root.name
    ok = tuple(f"{pkg}.{a}" for a in allowed)
    return [
        f"{imp.module}:{imp.line} imports {imp.target}; the CLI imports {', '.join(ok)} only"
        for path in sorted((root / "cli").rglob("*.py"))
        for imp in imports_of(root, path)
        if imp.target.split(".")[0] == pkg
        and imp.target not in (pkg, f"{pkg}.__version__")
        and (imp.module, imp.target) not in ALLOWED_EDGES
        and not any(imp.target == a or imp.target.startswith(a + ".") for a in ok)
    ]


def package_cycles(root: Path) -> list[list[str]]:
    """Cycles in the graph of units (``hw -> sim -> hw``), whatever the layer table says."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for imp in imports_of(root, path):
            if imp.target.split(".")[0] == root.name:
                src, dst = unit_of(root, imp.module), unit_of(root, imp.target)
                if src != dst and (imp.module, imp.target) not in ALLOWED_EDGES:
                    graph.setdefault(src, set()).add(dst)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def stray_exceptions(root: Path, allowed: tuple[str, ...] = OWN_EXCEPTIONS_ALLOWED) -> list[str]:
    """Exception classes defined outside the one tree (by name, through their bases, to a fixpoint)."""
    known = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    classes: list[tuple[str, ast.ClassDef]] = []
    for path in sorted(root.rglob("*.py")):
        mod = module_name(root, path)
        classes.extend((mod, n) for n in ast.walk(parse(path)) if isinstance(n, ast.ClassDef))

    def base_names(node: ast.ClassDef) -> set[str]:
        return {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases if isinstance(b, ast.Name | ast.Attribute)}

    exceptional: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for mod, node in classes:
            if (mod, node.name) not in exceptional and base_names(node) & known:
                exceptional.add((mod, node.name))
                known.add(node.name)
                changed = True
    return sorted(
        f"{mod}.{name} is an exception outside {root.name}.errors"
        for mod, name in exceptional
        if not name.startswith("_") and not any(mod == a or mod.startswith(a + ".") for a in allowed)
    )


# ---------------------------------------------------------------------- the station itself
def test_every_import_points_down() -> None:
    assert layer_violations(ROOT) == []


def test_no_package_cycle() -> None:
    assert package_cycles(ROOT) == []


def test_only_the_gui_imports_qt() -> None:
    assert qt_violations(ROOT) == []


def test_the_twin_is_imported_only_where_the_backend_is_chosen() -> None:
    assert sim_violations(ROOT) == []


def test_the_cli_gets_its_work_from_the_application_layer() -> None:
    assert cli_violations(ROOT) == []


def test_one_exception_tree() -> None:
    assert stray_exceptions(ROOT) == []


# ---------------------------------------------------------------------- the checker itself
@pytest.fixture
def fake(tmp_path: Path):
    """Write a tiny ``station`` package: ``{"hw/swd.py": "source"}``."""
    root = tmp_path / "station"

    def write(files: dict[str, str]) -> Path:
        for rel, text in {"__init__.py": "", **files}.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in path.relative_to(root).parents:
                (root / parent / "__init__.py").touch()
            path.write_text(text)
        return root

    return write


def test_checker_sees_a_lazy_upward_import(fake) -> None:
    root = fake({
        "errors.py": "",
        "hw/swd.py": "def f():\n    from station.pipeline.run import x\n",
        "pipeline/run.py": "from station.hw import swd\n",
    })
    (problem,) = layer_violations(root)
    assert "station.hw.swd:2 imports station.pipeline.run (hw -> pipeline points up)" in problem
    assert package_cycles(root) == [["hw", "pipeline", "hw"]]


def test_checker_sees_relative_type_checking_and_sideways_imports(fake) -> None:
    root = fake({
        "cloud/sync.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..export import manifest\n",
        "export/manifest.py": "",
        "ftest/run.py": "from ..labels.render import r\n",
        "labels/render.py": "",
        "gadget/x.py": "from station import errors\n",
    })
    problems = layer_violations(root)
    assert any("station.cloud.sync:3 imports station.export" in p and "sideways" in p for p in problems)
    assert not any("ftest" in p for p in problems)  # ftest above labels: fine
    assert any("unit 'gadget' is in no layer" in p for p in problems)


def test_checker_sees_qt_outside_the_gui_and_the_twin_outside_the_backend(fake) -> None:
    root = fake({
        "ui/window.py": "from PySide6.QtWidgets import QWidget\n",
        "pipeline/run.py": "def f():\n    import PySide6.QtCore\n",
        "hw/backend.py": "from station.sim.bench import Bench\n",
        "hw/usb.py": "from station.sim import usb_backend\n",
        "sim/bench.py": "from station.sim.device import Twin\n",
    })
    assert qt_violations(root) == ["station.pipeline.run:2 imports PySide6.QtCore (Qt belongs in station.ui)"]
    (problem,) = sim_violations(root, ("station.hw.backend",))
    assert problem.startswith("station.hw.usb:1 imports the twin (station.sim)")


def test_checker_sees_the_cli_reach_past_the_application_layer(fake) -> None:
    root = fake({
        "cli/lot_cmds.py": "from station import __version__\nfrom station.app.lots import FORMATS\n"
        "from station.errors import ConfigError\nfrom station.domain import Transport\nfrom . import common\n"
        "def f():\n    from station.export.manifest import write_lot\n",
        "cli/common.py": "from station import settings\n",
        "app/lots.py": "from station.export.manifest import FORMATS\n",
    })
    assert cli_violations(root) == [
        "station.cli.common:1 imports station.settings; the CLI imports station.app, station.errors, "
        "station.domain, station.cli only",
        "station.cli.lot_cmds:7 imports station.export.manifest; the CLI imports station.app, station.errors, "
        "station.domain, station.cli only",
    ]


def test_checker_sees_an_exception_outside_the_tree(fake) -> None:
    root = fake({
        "errors.py": "class StationError(RuntimeError): ...\nclass DeviceError(StationError): ...\n",
        "pipeline/run.py": "from station.errors import DeviceError\nclass TestsFailed(DeviceError): ...\n"
        "class Later(TestsFailed): ...\nclass Plain: ...\nclass _Inner(Exception): ...\n",
        "sim/dfu.py": "class Stall(Exception): ...\n",
    })
    assert stray_exceptions(root) == [
        "station.pipeline.run.Later is an exception outside station.errors",
        "station.pipeline.run.TestsFailed is an exception outside station.errors",
    ]
