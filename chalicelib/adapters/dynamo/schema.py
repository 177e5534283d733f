"""Every DynamoDB table of the app, collected from the table modules.

A new table module is added to ``TABLE_MODULES``; local set-up, tests and the infra
drift check all read ``ALL_TABLES`` from here.
"""
from __future__ import annotations

from pynamodb.models import Model

from . import (
    audit,
    campaign,
    chorus,
    contact_emails,
    documents,
    drafts,
    imports,
    payments,
    renewals,
    tables,
    tariff_versions,
)

TABLE_MODULES = [tables, audit, documents, campaign, renewals, contact_emails, tariff_versions, imports,
                 payments, chorus, drafts]


def _collect() -> tuple[type[Model], ...]:
    found: list[type[Model]] = []
    for module in TABLE_MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Model) and value is not Model \
                    and value.__module__ == module.__name__ and value not in found:
                found.append(value)
    return tuple(found)


ALL_TABLES: tuple[type[Model], ...] = _collect()
