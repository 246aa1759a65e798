"""Griffe extension: read the project's plain-text docstrings as Google-style Markdown.

The project's docstrings use their own section titles
("Main arguments", "Fields", ...), reST roles (``:class:`X```) and maths in plain text
such as ``<W_i, W_j>``. Rendered as Markdown, the titles would become admonitions whose
items run together, the roles would show as ``:class:``, and ``<...>`` would be read as
an HTML tag and vanish. This rewrites the docstring text (never the code) before griffe
parses it:

* "Main arguments:" -> "Args:"; "Fields:", "Main fields:", "Other fields:" ->
  "Attributes:" (rendered as tables, like "Other arguments:", "Returns:", "Raises:");
  a note in parentheses after the title ("Fields (I instances, ...):") becomes a
  sentence before the table;
* an item naming several fields ("n, m: ...") keeps its names together and gets their
  annotation (griffe would read the part after the first space as a type, and would
  otherwise show the previous item's type);
* reST roles -> code spans;
* ``docs/PATH.md#anchor`` -> a Markdown link to that page, relative to the API pages
  in ``docs/api/`` (so mkdocs rewrites it and, in strict mode, checks the anchor);
* ``<``, ``>`` and ``&`` outside code spans -> HTML entities, ``_`` is escaped (it marks
  subscripts in the docstrings, never emphasis), and a ``#`` that starts a line (a
  wrapped anchor such as ``#setup``) is escaped so it is not a heading.
"""

from __future__ import annotations

import re

import griffe

_TITLES = {
    "main arguments": "Args",
    "fields": "Attributes",
    "main fields": "Attributes",
    "other fields": "Attributes",
}
_TITLE_LINE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<title>[A-Za-z][A-Za-z ]*?)(?: \((?P<note>[^)]*)\))?:[ \t]*$")
# Sections that griffe renders as tables of "name: description" items.
_TABLE_SECTIONS = {"args", "arguments", "params", "parameters", "other args", "other arguments",
                   "other params", "other parameters", "keyword args", "keyword arguments",
                   "attributes", "raises", "exceptions", "returns", "yields", "warns"}
_ITEM = re.compile(
    r"^(?P<indent>[ \t]+)(?P<names>[\w.*]+(?:, [\w.*]+)*)(?P<type> \([^)]*\))?:(?P<rest>(?: .*)?)$")
_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|obj|exc):`~?(?P<target>[^`]+)`")
_CODE_SPAN = re.compile(r"(``.+?``|`[^`\n]+`)")
_DOCS_REF = re.compile(r"\bdocs/(?P<page>[\w/.-]+?)\.md(?P<anchor>#[\w-]+)?")
_DOCS_FROM_API = "../"  # docs/ as seen from docs/api/*.md, where the docstrings are shown


def _link(match: re.Match) -> str:
    return f"[{match[0]}]({_DOCS_FROM_API}{match['page']}.md{match['anchor'] or ''})"


def _plain(text: str) -> str:
    """Plain docstring text as Markdown that shows it as written: HTML characters become
    entities and ``_`` is escaped (``(s - c)_+^2 ... x_(2)`` would otherwise turn into
    emphasis; the docstrings mean subscripts, never ``_emphasis_``)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("_", "\\_")


def _escape(text: str) -> str:
    """Outside code spans (which show text as is): escape, and link docs references."""
    parts = _CODE_SPAN.split(text)
    for i in range(0, len(parts), 2):  # even indices: outside code spans
        pieces, last = [], 0
        for match in _DOCS_REF.finditer(parts[i]):
            pieces += [_plain(parts[i][last:match.start()]), _link(match)]
            last = match.end()
        parts[i] = "".join(pieces) + _plain(parts[i][last:])
    return "".join(parts)


def _field_type(names: list[str], annotations: dict[str, str]) -> str:
    """The annotation shared by ``names`` ("" if any is unknown), as "(type)"."""
    types = [annotations.get(name) for name in names]
    if None in types:
        return "()"
    return "(" + " | ".join(dict.fromkeys(types)) + ")"


def rewrite(text: str, annotations: dict[str, str] | None = None) -> str:
    """The docstring ``text`` with section titles mapped, roles unwrapped, HTML escaped.

    ``annotations`` maps the documented object's attribute names to their annotations.
    Item names of table sections ("name: description") are kept as written, since griffe
    matches them against the signature.
    """
    annotations = annotations or {}
    lines = []
    section, item_indent = None, None
    for line in text.splitlines():
        line = _ROLE.sub(lambda m: f"`{m['target']}`", line)
        title = _TITLE_LINE.match(line)
        if title and not title["indent"]:
            name = title["title"].lower()
            if name in _TITLES:
                if title["note"]:
                    lines += [f"In the table below: {_escape(title['note'])}.", ""]
                name = _TITLES[name].lower()
                line = f"{_TITLES[title['title'].lower()]}:"
            section = name if name in _TABLE_SECTIONS else None
            item_indent = None
            lines.append(line)
            continue
        if line.strip() and not line[0].isspace():
            section = None
        item = _ITEM.match(line) if section else None
        if item and item_indent is None:
            item_indent = item["indent"]
        if item and item["indent"] == item_indent:
            names = item["names"]
            if section == "attributes" and ", " in names:
                # NO-BREAK SPACE: griffe splits "name type" at the first plain space
                kind = item["type"] or " " + _field_type(names.split(", "), annotations)
                names = names.replace(", ", ",\u00a0") + kind
            elif item["type"]:
                names += item["type"]
            line = f"{item['indent']}{names}:{_escape(item['rest'])}"
        else:
            line = _escape(line)
            if line.lstrip().startswith("#"):
                line = line.replace("#", "\\#", 1)
        lines.append(line)
    return "\n".join(lines)


class ProjectDocstrings(griffe.Extension):
    """Apply :func:`rewrite` to every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is None:
            return
        annotations = {}
        for name, member in getattr(obj, "members", {}).items():
            try:
                annotation = getattr(member, "annotation", None)
            except griffe.AliasResolutionError:  # an import that griffe cannot follow
                continue
            if annotation is not None:
                annotations[name] = str(annotation)
        obj.docstring.value = rewrite(obj.docstring.value, annotations)
