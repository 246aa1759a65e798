"""mkdocs hook: serve MathJax from the built site, so formulas typeset offline.

MathJax comes from the PyPI package ``django-static-mathjax`` (in the ``docs`` extra),
which ships MathJax 3.2.2's browser distribution (``es5/``, Apache-2.0) as plain files
under ``mathjax/static/mathjax/``; it needs no Django at build time, we only read its
files. Installing it with ``pip install -e ".[docs]"`` is enough, and nothing is
vendored in the repository.

At build time this hook adds the part of ``es5/`` that the page loads to the site under
``assets/mathjax/``: the combined ``tex-mml-chtml.js`` that mkdocs.yml names in
``extra_javascript``, plus the folders MathJax loads from on demand next to it (TeX
extensions via autoload, the CHTML fonts, the menu and accessibility modules, the SVG
output the menu can switch to) and MathJax's licence. MathJax finds those folders
relative to the script's own URL, so no path needs configuring.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

SITE_FOLDER = "assets/mathjax"
# What the page needs from es5/: the entry script and the folders it loads from lazily.
# The other combined bundles (tex-svg.js, tex-chtml-full.js, ...) and the node-only
# files are left out: they are never requested and would add about 14 MB.
ENTRY = "tex-mml-chtml.js"
LAZY_FOLDERS = ("a11y", "input", "output", "sre", "ui")


def _mathjax_root() -> Path:
    """The MathJax distribution folder that django-static-mathjax installs."""
    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            root = Path(location) / "static" / "mathjax"
            if (root / "es5" / ENTRY).is_file():
                return root
    raise PluginError(
        "MathJax's files were not found: the docs need the PyPI package "
        "django-static-mathjax (install the docs extra: pip install -e \".[docs]\")")


def on_files(files, config):
    root = _mathjax_root()
    es5 = root / "es5"
    sources = [es5 / ENTRY]
    for folder in LAZY_FOLDERS:
        sources.extend(sorted(p for p in (es5 / folder).rglob("*") if p.is_file()))
    for path in sources:
        uri = f"{SITE_FOLDER}/{path.relative_to(es5).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    # Apache-2.0 asks that the licence travel with the redistributed files.
    files.append(File.generated(config, f"{SITE_FOLDER}/LICENSE",
                                abs_src_path=str(root / "LICENSE")))
    return files
