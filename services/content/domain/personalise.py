"""Personalised copies: a text or HTML template with merge fields, filled for one lead.

Templates are Jinja2 run in its sandbox (no attribute access to Python internals, no
imports), with undefined names refused, so a template naming a field that does not
exist fails when it is uploaded rather than when a rep shares it. HTML templates
escape the merge fields (a company called ``<script>`` stays text).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from services.content.domain.files import HTML

_TEXT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


@dataclass(frozen=True)
class MergeFields:
    """What a template may name: ``{{ prospect }}``, ``{{ company }}``, ``{{ rep }}``."""

    prospect: str
    company: str
    rep: str


SAMPLE = MergeFields(prospect="Ada Lovelace", company="Example Ltd", rep="Your rep")


class BadTemplate(ValueError):
    """The template does not render (a syntax error, an unknown merge field, a sandbox refusal)."""


def render(template: str, content_type: str, fields: MergeFields) -> str:
    env = _HTML if content_type == HTML else _TEXT
    try:
        return env.from_string(template).render(**asdict(fields))
    except TemplateError as exc:
        raise BadTemplate(f"{type(exc).__name__}: {exc.message or exc}; merge fields are "
                          f"{', '.join(asdict(SAMPLE))}") from exc
