"""Check that a built docs site loads nothing from the network.

    python docs/_hooks/check_offline.py [SITE]      # SITE defaults to site/

It builds nothing: run ``mkdocs build --strict`` first. It reads every ``.html`` and
``.css`` file under SITE and fails (exit 1, one line per problem) when a page would
fetch something remote as it opens:

* a ``<script src>``, a ``<link href>`` (stylesheet, font preload, preconnect, icon, ...),
  or an ``<img>``/``<iframe>``/``<source>``/... ``src`` with an http(s) or ``//`` URL;
* a remote ``url(...)`` or ``@import`` in a stylesheet or a ``<style>`` block (fonts);
* a local ``<script src>`` or stylesheet that is missing from SITE (e.g. MathJax not
  copied by docs/_hooks/mathjax_assets.py).

Ordinary links (``<a href>``) to the paper, GitHub and so on are fine: following them
needs the network, showing the page does not. What scripts fetch at run time cannot be
read from the files; the headless-Chromium check in the testing page covers that.
Standard library only, so it runs wherever the site was built.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)|url\(\s*['"]?([^'")\s]+)""",
                     re.IGNORECASE)
# <link rel=...> values that only describe the page and make the browser fetch nothing
DESCRIPTIVE_RELS = {"canonical", "alternate", "author", "license", "help", "me", "next",
                    "prev", "search"}
# elements whose src the browser fetches as the page opens
SRC_TAGS = {"script", "img", "iframe", "source", "audio", "video", "track", "embed", "input"}


def css_problems(css: str) -> list[str]:
    return [f"remote {url!r} in CSS" for match in CSS_URL.finditer(css)
            for url in [match[1] or match[2]] if REMOTE.match(url)]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[tuple[int, str]] = []
        self.local: list[tuple[int, str]] = []  # local scripts and stylesheets
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        line = self.getpos()[0]
        urls = []
        if tag in SRC_TAGS and attrs.get("src"):
            urls.append(("src", attrs["src"]))
        if tag == "object" and attrs.get("data"):
            urls.append(("data", attrs["data"]))
        if tag == "link" and attrs.get("href"):
            rels = set(attrs.get("rel", "").lower().split())
            if not rels or not rels <= DESCRIPTIVE_RELS:
                urls.append(("href", attrs["href"]))
                if "stylesheet" in rels and not REMOTE.match(attrs["href"]):
                    self.local.append((line, attrs["href"]))
        if tag == "script" and attrs.get("src") and not REMOTE.match(attrs["src"]):
            self.local.append((line, attrs["src"]))
        for name, url in urls:
            if REMOTE.match(url):
                self.problems.append((line, f"<{tag} {name}={url!r}>"))
        if attrs.get("style"):
            self.problems.extend((line, p) for p in css_problems(attrs["style"]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            line = self.getpos()[0]
            self.problems.extend((line, p) for p in css_problems(data))


def page_problems(path: Path, site: Path) -> list[str]:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    label = path.relative_to(site).as_posix()
    problems = [f"{label}:{line}: {what}" for line, what in parser.problems]
    for line, url in parser.local:
        parts = urlsplit(url)
        if parts.scheme or not parts.path:  # data:, blob:, ... carry their content
            continue
        base = site if parts.path.startswith("/") else path.parent
        target = (base / unquote(parts.path).lstrip("/")).resolve()
        if not target.is_file():
            problems.append(f"{label}:{line}: {url!r} is not in the site")
    return problems


def site_problems(site: Path) -> tuple[list[str], int, int]:
    pages = sorted(site.rglob("*.html"))
    sheets = sorted(site.rglob("*.css"))
    problems = [p for page in pages for p in page_problems(page, site)]
    for sheet in sheets:
        label = sheet.relative_to(site).as_posix()
        text = sheet.read_text(encoding="utf-8", errors="replace")
        problems.extend(f"{label}: {p}" for p in css_problems(text))
    return problems, len(pages), len(sheets)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    site = Path(argv[0] if argv else "site")
    if not (site / "index.html").is_file():
        print(f"{site}/index.html not found: build the site first (mkdocs build --strict)",
              file=sys.stderr)
        return 2
    problems, pages, sheets = site_problems(site)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} remote or missing resources in {site}", file=sys.stderr)
        return 1
    print(f"{pages} pages and {sheets} stylesheets in {site}: nothing loaded from the network")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
