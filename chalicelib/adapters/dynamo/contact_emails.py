"""The guard that keeps contact emails unique: one item per normalised email.

DynamoDB cannot enforce uniqueness on a non-key attribute, so every contact write that
sets an email also writes, in the same transaction, the item keyed by that email with a
``does not exist`` condition (see ``DynamoContacts``). Changing an email moves the guard in
the same way. A contact that was created before the guard existed simply has none: the
next change of its email writes one.
"""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from .tables import _meta


class ContactEmailTable(Model):
    Meta = _meta("contact_emails")
    email = UnicodeAttribute(hash_key=True)  # normalised: trimmed, lower-case
    contact_id = UnicodeAttribute()
