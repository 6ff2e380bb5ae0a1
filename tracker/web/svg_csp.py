"""Make matplotlib's SVG fit a Content-Security-Policy without ``'unsafe-inline'`` styles.

matplotlib writes ``style="fill: #1f77b4; stroke-width: 1.5"`` on its elements and one ``<style>``
element; a strict CSP blocks both in an inline ``<svg>``. Every property matplotlib writes is also
an SVG presentation attribute, which the CSP does not govern, so each declaration becomes the
attribute of the same name (``fill="#1f77b4"``) and the ``<style>`` rule becomes attributes of the
root element, which its descendants inherit. The drawing is the same.
"""
from __future__ import annotations

import re

_TAG = re.compile(r"<[A-Za-z][^<>]*>")  # matplotlib escapes < and > inside attribute values
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>\s*\*\s*\{([^}]*)\}\s*</style>", re.S)
_PROPERTY = re.compile(r"^[a-z-]+$")


def _attributes(declarations: str) -> str:
    pairs = []
    for declaration in declarations.split(";"):
        name, sep, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if sep and _PROPERTY.match(name) and value:
            pairs.append(f'{name}="{value}"')
    return (" " + " ".join(pairs)) if pairs else ""


def _tag_without_style(match: re.Match[str]) -> str:
    return _STYLE_ATTR.sub(lambda m: _attributes(m.group(1)), match.group(0))


def presentation_attributes(svg: str) -> str:
    """``svg`` with every ``style`` attribute and the root ``<style>`` rule turned into
    presentation attributes (nothing a CSP would block)."""
    root_rule = _STYLE_ELEMENT.search(svg)
    if root_rule is not None:
        svg = svg[:root_rule.start()] + svg[root_rule.end():]
        root = re.search(r"<svg\b[^>]*", svg)
        if root is not None:  # appended to the root's start tag, after what is there already
            svg = svg[:root.end()] + _attributes(root_rule.group(1)) + svg[root.end():]
    return _TAG.sub(_tag_without_style, svg)
