"""The layout of simulations/ (docs/usage.md#protocol): the runner is the ground floor and the
research studies sit apart."""

import ast
from pathlib import Path

SIMULATIONS = Path(__file__).resolve().parents[1] / "simulations"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(SIMULATIONS.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(x for x in (base, node.module) if x)
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def test_the_runner_imports_no_experiment():
    """simulations.runner imports only itself, the standard library and third-party
    packages: never an experiment module, E3's internals or the studies."""
    for path in (SIMULATIONS / "runner").glob("*.py"):
        ours = {n for n in _imports(path) if n.split(".")[0] in ("simulations", "dynamics",
                                                                 "theory")}
        assert all(n.startswith("simulations.runner") for n in ours), (path.name, ours)


def test_no_product_module_imports_the_studies():
    product = [p for p in SIMULATIONS.rglob("*.py") if "studies" not in p.parts]
    for path in product:
        assert not any(n.startswith("simulations.studies") for n in _imports(path)), path
