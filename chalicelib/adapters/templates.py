"""Jinja2 rendering of pages and emails from the top-level ``templates/`` folder."""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from markupsafe import Markup, escape

from ..domain.formatting import (
    format_date,
    format_datetime,
    format_eur,
    french_typography,
    french_typography_html,
    group_iban,
)

PARIS = ZoneInfo("Europe/Paris")


def find_templates_dir(configured: str | None) -> Path:
    """The configured folder, else ``templates/`` beside the package (repo or Lambda zip)."""
    if configured:
        return Path(configured)
    here = Path(__file__).resolve().parent.parent  # chalicelib/
    for candidate in (here.parent / "templates", here / "templates"):
        if candidate.is_dir():
            return candidate
    raise RuntimeError("templates folder not found")


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(PARIS)


def _date_fr(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return format_date(_local(value) if isinstance(value, datetime) else value)


def _datetime_fr(value: datetime | None) -> str:
    return format_datetime(_local(value)) if value else ""


@pass_eval_context
def _typo(eval_ctx, value) -> str:
    """French no-break spaces (``domain.formatting.french_typography``). Where output is
    escaped, a plain string is escaped first and the result stays ``Markup``; markup is changed
    only between its tags. Text templates get plain text."""
    if eval_ctx.autoescape:
        return Markup(french_typography_html(str(value if isinstance(value, Markup) else escape(value))))
    return french_typography(str(value))


class TemplateRenderer:
    def __init__(self, templates_dir: Path):
        self.dir = templates_dir
        self.env = Environment(
            loader=FileSystemLoader(str(templates_dir)),
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(eur=format_eur, date_fr=_date_fr, datetime_fr=_datetime_fr, iban=group_iban,
                                typo=_typo)
        # Text emails must not be HTML-escaped.
        self.text_env = self.env.overlay(autoescape=False)

    def page(self, name: str, **context) -> str:
        return self.env.get_template(name).render(**context)

    def email(self, name: str, **context) -> tuple[str, str, str]:
        """Render ``email/<name>.txt`` and ``.html``; the subject is the text's first line."""
        text = french_typography(self.text_env.get_template(f"email/{name}.txt").render(**context))
        subject, _, body = text.partition("\n")
        html = self.env.get_template(f"email/{name}.html").render(subject=subject, **context)
        return subject.removeprefix("Subject:").strip(), body.lstrip("\n"), html

    def static(self, name: str) -> bytes:
        path = (self.dir / "static" / name).resolve()
        if path.parent != (self.dir / "static").resolve() or not path.is_file():
            raise FileNotFoundError(name)
        return path.read_bytes()
