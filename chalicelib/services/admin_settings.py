"""Staff editing of the association settings, by section: identity, invoicing, campaign, technical limits."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..domain.association import AssociationSettings
from ..domain.errors import ConcurrentUpdate, NotFound, ValidationError
from ..domain.settings_form import check_settings, section, settings_diff, settings_values
from ..runtime import Runtime
from .audit import record


@dataclass(frozen=True)
class SettingsForm:
    values: dict[str, str]
    version: int


def settings_form(rt: Runtime) -> SettingsForm:
    """The current settings as form values, with the version the save will expect."""
    settings, version = rt.settings.association_with_version()
    if settings is None:
        raise NotFound("Les paramètres de l'association n'ont pas encore été chargés.")
    return SettingsForm(settings_values(settings), version or 0)


def save_settings(rt: Runtime, actor: str, values: Mapping[str, str]) -> AssociationSettings:
    """Check and save the settings form, unless someone saved the settings since it was shown.

    ``values["section"]`` (a ``settings_form.SECTIONS`` key) saves that section only; without it
    every field is read (the whole form)."""
    current, version = rt.settings.association_with_version()
    if current is None:
        raise NotFound("Les paramètres de l'association n'ont pas encore été chargés.")
    expected = str(values.get("version", "")).strip()
    if not expected.isdigit():
        raise ValidationError({"form": "Le formulaire est incomplet : rechargez la page et recommencez."})
    if int(expected) != version:
        raise ConcurrentUpdate("Les paramètres ont été modifiés par quelqu'un d'autre entre-temps. "
                               "Rechargez la page pour voir leurs valeurs actuelles.")
    key = str(values.get("section", "")).strip()
    sec = section(key) if key else None
    if key and sec is None:
        raise ValidationError({"form": "Cette partie des paramètres n'existe pas : rechargez la page."})
    updated = check_settings(values, current, sec)
    diff = settings_diff(current, updated)
    if not diff:
        return current
    rt.settings.save_association(updated, expected_version=version)
    rt.forget_cached_settings()
    record(rt, "settings.updated", actor=actor, target="association",
           before={k: v[0] for k, v in diff.items()}, after={k: v[1] for k, v in diff.items()})
    return updated
