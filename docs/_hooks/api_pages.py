"""mkdocs hook: expand ``<!-- public-api: PACKAGE -->`` into mkdocstrings blocks.

The API pages render exactly the names that ``PACKAGE/__init__.py`` imports (the
project's public surface), read from the source with ``ast`` at build time, so the
pages follow the packages without a hand-kept list. Names are grouped by the module
they come from, in the order of ``__init__.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

_MARKER = re.compile(r"^<!-- public-api: (?P<package>[a-z_]+) -->$", re.MULTILINE)
_ROOT = Path(__file__).resolve().parents[2]


def public_names(package: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(source module, [(public name, object path to render), ...]), ...] of a package.

    A name imported as ``from M import x as y`` is public as ``package.y`` and rendered
    from ``M.x``; ``from package import sub`` (a submodule) is rendered as a module.
    """
    tree = ast.parse((_ROOT / package / "__init__.py").read_text(encoding="utf-8"))
    groups: dict[str, list[tuple[str, str]]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        for alias in node.names:
            public = alias.asname or alias.name
            if node.module == package:  # a submodule
                groups.setdefault(f"{package}.{alias.name}", []).append(
                    (public, f"{package}.{alias.name}"))
            elif alias.asname:  # renamed: render the original object
                groups.setdefault(node.module, []).append((public, f"{node.module}.{alias.name}"))
            else:
                groups.setdefault(node.module, []).append((public, f"{package}.{public}"))
    return list(groups.items())


def _title(module: str) -> str:
    return module.rsplit(".", 1)[-1].strip("_").replace("_", " ").capitalize()


def _expand(package: str) -> str:
    lines = []
    for module, names in public_names(package):
        lines.append(f"## {_title(module)}\n")
        lines.append(f"From `{module}`: " + ", ".join(f"`{public}`" for public, _ in names)
                     + ".\n")
        for _public, path in names:
            if path == module:
                # a submodule imported whole: its docstring only, its members have
                # their own entries where the package re-exports them
                lines.append(f"::: {path}\n    options:\n      members: false\n")
            else:
                lines.append(f"::: {path}\n")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs) -> str:
    return _MARKER.sub(lambda match: _expand(match["package"]), markdown)
