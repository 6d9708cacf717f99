"""The HTML pages' templates (e-mail links, sign-in, the console): one Jinja2 environment on the
package's templates, autoescaped, with undefined names an error rather than an empty string (a page that
silently lost a word would be read at 3 a.m. as meaning something else)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

templates = Environment(
    loader=PackageLoader("memoguard", "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
