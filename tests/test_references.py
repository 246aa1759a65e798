"""Every citation in the code and the docs points to something inside the repository.

The README asks users to cite the derivation pages by anchor, so a reference to a docs
page or anchor that does not exist is a broken promise. This checks, without building
the site (``mkdocs build --strict`` checks the links of the built site as well):

* every ``docs/<page>.md`` and ``docs/<page>.md#anchor`` in the code (all ``.py`` files of
  the packages, tests and benchmarks), in ``README.md`` and in the docs names an existing
  page and one of its heading anchors;
* every relative Markdown link between docs pages resolves the same way;
* nothing cites a file outside the repository (the project's internal notes);
* ``CITATION.cff`` has the fields that make the tool citable.

Anchors are computed as mkdocs' ``toc`` extension computes them: an explicit
``{#id}`` attribute wins; otherwise the heading text is slugified (ASCII-folded, every
character that is not a word character, space or hyphen dropped, lower case, runs of
spaces and hyphens joined by one hyphen), and a repeated slug gets ``_1``, ``_2``, ...
"""

from __future__ import annotations

import ast
import re
import tomllib
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CODE_DIRS = ("theory", "dynamics", "simulations", "tests", "benchmarks")
API_PACKAGES = ("theory", "dynamics", "simulations")

# Written in two parts so that this file does not match its own check.
FORBIDDEN = ("PAPER" + ".md", "../" + "shared")

# docs/<page>.md with an optional #anchor, possibly on the next line of a wrapped docstring.
DOCS_REF = re.compile(
    r"\bdocs/(?P<page>[\w./-]+?\.md)(?:#(?P<anchor>[\w-]+)|\s*\n\s*#(?P<wrapped>[\w-]+))?")
# [text](target "title"): inline Markdown links; images share the syntax.
MD_LINK = re.compile(r"\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
ATTR_ID = re.compile(r"\s*\{[^}]*#(?P<id>[\w-]+)[^}]*\}\s*$")
IDCOUNT = re.compile(r"^(.*)_([0-9]+)$")


def slugify(text: str) -> str:
    """Python-Markdown's ``toc.slugify`` with separator "-" (mkdocs' default)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _plain(heading: str) -> str:
    """Heading text as rendered, before slugifying: links keep their text, code its content."""
    heading = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return heading.replace("`", "")


def _unique(slug: str, used: set[str]) -> str:
    while slug in used or not slug:
        counted = IDCOUNT.match(slug)
        slug = f"{counted[1]}_{int(counted[2]) + 1}" if counted else f"{slug}_1"
    used.add(slug)
    return slug


def _outside_fences(text: str) -> list[str]:
    """The lines of a Markdown file that are not inside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


@cache
def public_names(package: str) -> frozenset[str]:
    """The names ``package/__init__.py`` imports (what the API page renders)."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8"))
    return frozenset(alias.asname or alias.name for node in tree.body
                     if isinstance(node, ast.ImportFrom) for alias in node.names)


@cache
def anchors(page: Path) -> frozenset[str]:
    """The heading anchors of a docs page, as the built site has them."""
    headings = [m for line in _outside_fences(page.read_text(encoding="utf-8"))
                if (m := HEADING.match(line))]
    explicit = {m["id"] for h in headings if (m := ATTR_ID.search(h["text"]))}
    used = set(explicit)
    found = set(explicit)
    for h in headings:
        if not ATTR_ID.search(h["text"]):
            found.add(_unique(slugify(_plain(h["text"])), used))
    if page.parent == DOCS / "api" and page.stem in API_PACKAGES:
        # mkdocstrings gives each rendered object the anchor "package.name".
        found |= {f"{page.stem}.{name}" for name in public_names(page.stem)}
    return frozenset(found)


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _problem(page: Path, anchor: str | None, where: str) -> str | None:
    """Why ``page#anchor`` (cited at ``where``) is broken, or None."""
    if not page.is_file():
        return f"{where}: no such page {_label(page)}"
    if anchor and anchor not in anchors(page):
        return f"{where}: no heading with anchor #{anchor} in {_label(page)}"
    return None


def code_files() -> list[Path]:
    """The Python files whose docstrings and comments cite the docs. This file is left
    out: its own test plants broken references on purpose."""
    this = Path(__file__).resolve()
    return sorted(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py") if p.resolve() != this)


def docs_files() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def docs_reference_problems(path: Path) -> list[str]:
    """Broken ``docs/<page>.md#anchor`` references in one file."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for match in DOCS_REF.finditer(text):
        where = f"{_label(path)}:{_line(text, match.start())}"
        anchor = match["anchor"] or match["wrapped"]
        problems.append(_problem(DOCS / match["page"], anchor, where))
    return [p for p in problems if p]


def link_problems(page: Path) -> list[str]:
    """Broken relative links of one docs page (external links are not checked)."""
    problems = []
    for number, line in enumerate(_outside_fences(page.read_text(encoding="utf-8")), 1):
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        for match in MD_LINK.finditer(line):
            target = match["target"].strip("<>")
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
                continue  # http:, mailto:, ... and site-absolute paths
            file_part, _, anchor = target.partition("#")
            if file_part and not file_part.endswith(".md"):
                continue  # images and other assets
            linked = (page.parent / file_part).resolve() if file_part else page
            where = f"{_label(page)} (line {number} outside code blocks)"
            problems.append(_problem(linked, anchor or None, where))
    return [p for p in problems if p]


# --- the slug rules themselves, on known cases -------------------------------------------


def test_slugify_matches_mkdocs_toc():
    """Known slugs of the toc extension: punctuation dropped, ASCII folded, runs joined."""
    worked = "worked-example-n-256-experiment-e3"
    assert slugify("Worked example: n = 256 (experiment E3)") == worked
    assert slugify("Time to full sparsification") == "time-to-full-sparsification"
    assert slugify("Winner = initial argmax?") == "winner-initial-argmax"
    assert slugify("Résumé — “quoted”") == "resume-quoted"
    assert slugify(_plain("`quick` preset, see [usage](usage.md)")) == "quick-preset-see-usage"
    assert slugify("$n = 256$ and $\\lambda$") == "n-256-and-lambda"  # arithmatex keeps the TeX


def test_anchors_honour_explicit_ids_and_duplicates(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n## Setup\n```\n# not a heading\n```\n## Setup\n"
                    "## Long heading {#short}\n## setup_1\n", encoding="utf-8")
    # toc counts up: the second "setup_1" becomes "setup_2", not "setup_1_1".
    assert anchors(page) == {"title", "setup", "setup_1", "short", "setup_2"}


def test_a_broken_reference_is_reported(tmp_path):
    """The checks can fail: a missing page and a missing anchor are both reported."""
    source = tmp_path / "module.py"
    source.write_text('"""See docs/usage.md#no-such-anchor and docs/nowhere.md."""\n',
                      encoding="utf-8")
    problems = docs_reference_problems(source)
    assert len(problems) == 2 and "#no-such-anchor" in problems[0] and "nowhere" in problems[1]
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](page.md#page) [bad](page.md#other) [gone](gone.md)\n",
                    encoding="utf-8")
    assert len(link_problems(page)) == 2


# --- the repository ------------------------------------------------------------------------


def test_code_references_to_docs_exist():
    """Every docs/<page>.md[#anchor] cited by the code (and the README) exists."""
    problems = [p for path in [*code_files(), ROOT / "README.md"]
                for p in docs_reference_problems(path)]
    assert not problems, "\n".join(problems)


def test_docs_references_and_links_exist():
    """Every docs/<page>.md[#anchor] and every relative link inside the docs exists."""
    problems = [p for page in docs_files()
                for p in [*docs_reference_problems(page), *link_problems(page)]]
    assert not problems, "\n".join(problems)


def test_nothing_cites_files_outside_the_repository():
    """No citation of the project's internal notes, which users cannot open."""
    files = [*code_files(), *docs_files(), *(DOCS / "_hooks").rglob("*.py"),
             *(ROOT / name for name in ("README.md", "mkdocs.yml", "pyproject.toml",
                                         "CITATION.cff"))]
    problems = [f"{_label(path)}:{number}: {line.strip()}"
                for path in files if path.is_file()
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if any(word in line for word in FORBIDDEN)]
    assert not problems, "\n".join(problems)


def _cff_fields(text: str) -> dict:
    """CITATION.cff as data: PyYAML when installed (it comes with mkdocs), else the
    top-level scalar keys read by hand (the test extra does not need PyYAML)."""
    try:
        import yaml
    except ImportError:
        fields = {}
        for line in text.splitlines():
            if match := re.match(r"^([\w-]+):\s*(.*?)\s*$", line):
                fields[match[1]] = match[2].strip("\"'") or None  # None: a nested block
        return fields
    return yaml.safe_load(text)


def test_citation_cff():
    """The tool is citable: CFF 1.2.0, this version and licence, the paper as reference."""
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    cff = _cff_fields(text)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert str(cff["cff-version"]) == "1.2.0"
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == "MIT" and cff["title"] and cff["message"]
    assert "preferred-citation" in cff or "references" in cff
    if isinstance(cff.get("preferred-citation"), dict):
        paper = cff["preferred-citation"]
        families = [author["family-names"] for author in paper["authors"]]
        assert families == ["Lecomte", "Thaman", "Chow", "Schaeffer", "Koyejo"]
        assert "2312.03096" in str(paper.get("identifiers", "")) + str(paper.get("url", ""))
    else:
        assert "2312.03096" in text  # hand-parsed: the nested entry is not read


@pytest.mark.parametrize("package", API_PACKAGES)
def test_api_pages_render_their_package(package):
    """Each API page asks the build hook for its package's public names."""
    page = (DOCS / "api" / f"{package}.md").read_text(encoding="utf-8")
    assert f"<!-- public-api: {package} -->" in page
    assert public_names(package), f"{package}/__init__.py exports nothing"


def test_docs_hold_no_control_characters():
    """A TeX command written in a Python string without r"" loses its backslash to an
    escape (\\a, \\b, \\t: BEL, BS, TAB) and shows as a MathJax input error; it happened in
    docs/theory/sparsification.md. Only newlines belong in the pages."""
    bad = {str(p.relative_to(ROOT)): sorted({hex(ord(c)) for c in p.read_text()
                                             if ord(c) < 32 and c != "\n"})
           for p in DOCS.rglob("*.md")}
    assert not {k: v for k, v in bad.items() if v}
