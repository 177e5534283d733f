"""Staff editing of the association settings, by section: identity, invoicing, campaign, technical limits."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..domain.association import AssociationSettings
from ..domain.errors import ConcurrentUpdate, NotFound, ValidationError
from ..domain.logo import check_logo, logo_summary
from ..domain.settings_form import check_settings, section, settings_diff, settings_values
from ..runtime import Runtime
from .audit import record


@dataclass(frozen=True)
class SettingsForm:
    values: dict[str, str]
    version: int
    logo_src: str = ""  # the current logo for an ``<img src>``, "" without one
    logo_summary: str = ""  # « PNG, 12 Ko » or « aucun »


def settings_form(rt: Runtime) -> SettingsForm:
    """The current settings as form values, with the version the save will expect."""
    settings, version = rt.settings.association_with_version()
    if settings is None:
        raise NotFound("Les paramètres de l'association n'ont pas encore été chargés.")
    return SettingsForm(settings_values(settings), version or 0, settings.logo_src, logo_summary(settings.logo))


def save_settings(rt: Runtime, actor: str, values: Mapping[str, str]) -> AssociationSettings:
    """Check and save the settings form, unless someone saved the settings since it was shown.

    ``values["section"]`` (a ``settings_form.SECTIONS`` key) saves that section only; without it
    every field is read (the whole form)."""
    current, version = _current(rt, values)
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


def save_logo(rt: Runtime, actor: str, values: Mapping[str, str], data: bytes) -> AssociationSettings:
    """Check the uploaded image (PNG or JPEG, at most 100 KB: ``domain.logo``) and make it the
    association's logo; journaled like any settings change (the image's kind and size, not its bytes)."""
    current, version = _current(rt, values)
    uri = check_logo(data)
    return _set_logo(rt, actor, current, version, uri)


def remove_logo(rt: Runtime, actor: str, values: Mapping[str, str]) -> AssociationSettings:
    """Remove the association's logo (nothing happens if there is none)."""
    current, version = _current(rt, values)
    return _set_logo(rt, actor, current, version, "")


def _set_logo(rt: Runtime, actor: str, current: AssociationSettings, version: int | None,
              uri: str) -> AssociationSettings:
    if uri == current.logo:
        return current
    updated = replace(current, logo=uri)
    rt.settings.save_association(updated, expected_version=version)
    rt.forget_cached_settings()
    record(rt, "settings.updated", actor=actor, target="association",
           before={"logo": logo_summary(current.logo)}, after={"logo": logo_summary(uri)},
           sha256=hashlib.sha256(uri.encode()).hexdigest() if uri else "")
    return updated


def _current(rt: Runtime, values: Mapping[str, str]) -> tuple[AssociationSettings, int | None]:
    """The settings and their version, if the form was shown at that version (else ConcurrentUpdate)."""
    current, version = rt.settings.association_with_version()
    if current is None:
        raise NotFound("Les paramètres de l'association n'ont pas encore été chargés.")
    expected = str(values.get("version", "")).strip()
    if not expected.isdigit():
        raise ValidationError({"form": "Le formulaire est incomplet : rechargez la page et recommencez."})
    if int(expected) != version:
        raise ConcurrentUpdate("Les paramètres ont été modifiés par quelqu'un d'autre entre-temps. "
                               "Rechargez la page pour voir leurs valeurs actuelles.")
    return current, version
