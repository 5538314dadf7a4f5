"""Marketers' templates, rendered in Jinja's sandbox with the recipient's context only.

A template sees plain strings, numbers and lists of plain dicts, never ORM objects, so even
a hole in the sandbox has nothing to reach. Missing values fall back to defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from app.errors import Invalid

# The names a template may use; each has a default so no message prints a blank.
FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "company",
    "title",
    "city",
    "tier",
    "recent_interactions",
    "score_says",
    "promo_code",
    "drop_link",
    "unsubscribe_link",
)

# Defaults by language; "en" is the fallback for any other language.
DEFAULTS: dict[str, dict[str, Any]] = {
    "en": {
        "first_name": "there",
        "last_name": "",
        "full_name": "there",
        "company": "your company",
        "title": "",
        "city": "",
        "tier": "",
        "recent_interactions": [],
        "score_says": [],
        "promo_code": "",
        "drop_link": "",
        "unsubscribe_link": "",
    },
    "it": {
        "first_name": "",
        "last_name": "",
        "full_name": "",
        "company": "la tua azienda",
        "title": "",
        "city": "",
        "tier": "",
        "recent_interactions": [],
        "score_says": [],
        "promo_code": "",
        "drop_link": "",
        "unsubscribe_link": "",
    },
}

# Fields that cost a query per person: computed only when a template uses them.
COSTLY_FIELDS = frozenset({"recent_interactions", "score_says"})


class _Environment(SandboxedEnvironment):
    """No access to attributes starting with an underscore, nor to callables' internals."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        return super().is_safe_attribute(obj, attr, value)


def _environment(strict: bool) -> SandboxedEnvironment:
    env = _Environment(
        autoescape=False,
        undefined=StrictUndefined if strict else _FallbackUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.clear()  # no range, lipsum, dict, cycler, joiner, namespace
    return env


class _FallbackUndefined(Undefined):
    """At send time an unknown name prints nothing rather than failing one recipient."""


_STRICT = _environment(strict=True)
_LENIENT = _environment(strict=False)


@lru_cache(maxsize=256)
def _compile(source: str, strict: bool) -> Any:
    env = _STRICT if strict else _LENIENT
    return env.from_string(source)


def used_fields(*sources: str) -> set[str]:
    names: set[str] = set()
    for source in sources:
        try:
            names |= meta.find_undeclared_variables(_STRICT.parse(source))
        except TemplateSyntaxError:
            continue
    return names


def _reaches_private(tree: nodes.Template) -> bool:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = node.arg.value if isinstance(node.arg.value, str) else None
        if attr and attr.startswith("_"):
            return True
    return False


def sample_context(language: str = "en") -> dict[str, Any]:
    ctx = dict(DEFAULTS.get(language, DEFAULTS["en"]))
    ctx.update(
        first_name="Anna",
        last_name="Rossi",
        full_name="Anna Rossi",
        company="Acme Srl",
        title="CEO",
        city="Milano",
        tier="one_to_one",
        promo_code="PROMO-ABC123",
        drop_link="https://example.org/d/sample",
        unsubscribe_link="https://example.org/u/sample",
        recent_interactions=[
            {
                "kind": "meeting",
                "channel": "meeting",
                "date": "2026-01-10",
                "summary": "Coffee at the fair",
            }
        ],
        score_says=["Potential 80 of 100."],
    )
    return ctx


def check_template(source: str, what: str = "body") -> None:
    """Raise Invalid with a message a marketer understands, or return quietly."""
    try:
        tree = _STRICT.parse(source)
    except TemplateSyntaxError as exc:
        raise Invalid(
            _(
                "The %(what)s has a template error on line %(line)s: %(message)s",
                what=what,
                line=exc.lineno,
                message=exc.message or "",
            ),
            field=what,
        ) from None
    unknown = sorted(meta.find_undeclared_variables(tree) - set(FIELDS))
    if unknown:
        raise Invalid(
            _(
                "The %(what)s uses unknown fields: %(names)s. Available: %(fields)s.",
                what=what,
                names=", ".join(unknown),
                fields=", ".join(FIELDS),
            ),
            field=what,
        )
    if _reaches_private(tree):
        raise Invalid(
            _("The %(what)s tries to reach something templates may not use.", what=what),
            field=what,
        )
    try:
        _compile(source, True).render(sample_context())
    except SecurityError:
        raise Invalid(
            _("The %(what)s tries to reach something templates may not use.", what=what),
            field=what,
        ) from None
    except UndefinedError as exc:
        raise Invalid(
            _(
                "The %(what)s uses something that does not exist: %(message)s",
                what=what,
                message=exc.message or "",
            ),
            field=what,
        ) from None
    except Exception as exc:  # a filter given the wrong type, a division by zero...
        raise Invalid(
            _("The %(what)s cannot be rendered: %(error)s", what=what, error=type(exc).__name__),
            field=what,
        ) from None


def render(source: str, context: Mapping[str, Any], language: str | None = None) -> str:
    """Render for one recipient; empty values are replaced by the language's defaults."""
    defaults = DEFAULTS.get(language or "en", DEFAULTS["en"])
    ctx = {
        k: (context.get(k) if context.get(k) not in (None, "") else v) for k, v in defaults.items()
    }
    try:
        return str(_compile(source, False).render(ctx))
    except SecurityError:
        raise Invalid(_("The template tries to reach something templates may not use.")) from None
    except TemplateSyntaxError as exc:
        raise Invalid(_("The template has an error on line %(line)s.", line=exc.lineno)) from None
