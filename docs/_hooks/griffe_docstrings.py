"""Griffe extension: read the project's plain-text docstrings as Google-style Markdown.

The docstrings (STYLE.md-like conventions of the project) use their own section titles
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
* ``<``, ``>`` and ``&`` outside code spans -> HTML entities, and a ``#`` that starts a
  line (a wrapped anchor such as ``#setup``) is escaped so it is not a heading.
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
_MULTI_NAME_ITEM = re.compile(r"^(?P<indent>[ \t]+)(?P<names>\w+(?:, \w+)+):(?P<rest>.*)$")
_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|obj|exc):`~?(?P<target>[^`]+)`")
_CODE_SPAN = re.compile(r"(``.+?``|`[^`\n]+`)")
_DOCS_REF = re.compile(r"\bdocs/(?P<page>[\w/.-]+?)\.md(?P<anchor>#[\w-]+)?")
_DOCS_FROM_API = "../"  # docs/ as seen from docs/api/*.md, where the docstrings are shown


def _link(match: re.Match) -> str:
    return f"[{match[0]}]({_DOCS_FROM_API}{match['page']}.md{match['anchor'] or ''})"


def _escape(text: str) -> str:
    """Outside code spans (which show text as is): escape HTML, link docs references."""
    parts = _CODE_SPAN.split(text)
    for i in range(0, len(parts), 2):  # even indices: outside code spans
        text_part = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts[i] = _DOCS_REF.sub(_link, text_part)
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
    """
    annotations = annotations or {}
    lines = []
    in_table_section = False
    for line in text.splitlines():
        title = _TITLE_LINE.match(line)
        if title and title["title"].lower() in _TITLES:
            if title["note"]:
                lines += [f"{title['indent']}In the table below: {_escape(title['note'])}.", ""]
            line = f"{title['indent']}{_TITLES[title['title'].lower()]}:"
            in_table_section = True
        elif title:
            in_table_section = False
        elif line.strip() and not line[0].isspace():
            in_table_section = False
        items = _MULTI_NAME_ITEM.match(line) if in_table_section else None
        if items:  # NO-BREAK SPACE: griffe splits "name type" at the first plain space
            names = items["names"].split(", ")
            kind = _field_type(names, annotations)
            joined = ",\u00a0".join(names)
            line = f"{items['indent']}{joined} {kind}:{items['rest']}"
        line = _escape(_ROLE.sub(lambda m: f"`{m['target']}`", line))
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
