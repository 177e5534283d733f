"""Form drafts: what a member had typed when their session ran out, kept for them for a day.

One item per draft, keyed by the SHA-256 of a random token (the token itself travels only in
the link back to the form); it names its contact, and is read once (a conditional delete).
"""
from __future__ import annotations

import json
from datetime import datetime

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.models import Model

from .tables import _meta


class FormDraftTable(Model):
    Meta = _meta("form_drafts")
    token_hash = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute()
    form = UnicodeAttribute()  # which form (e.g. "renewal")
    data = UnicodeAttribute()  # the fields as JSON
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class DynamoFormDrafts:
    def add(self, token_hash: str, contact_id: str, form: str, values: dict[str, str], now: datetime,
            until: datetime) -> None:
        FormDraftTable(token_hash, contact_id=contact_id, form=form, data=json.dumps(values, ensure_ascii=False),
                       created_at=now, expires_at=until).save()

    def take(self, token_hash: str, contact_id: str, form: str, now: datetime) -> dict[str, str] | None:
        """The draft's fields if it is this contact's, for this form and not expired; read once."""
        try:
            item = FormDraftTable.get(token_hash, consistent_read=True)
        except DoesNotExist:
            return None
        if item.contact_id != contact_id or item.form != form or item.expires_at < now:
            return None
        try:
            item.delete(condition=FormDraftTable.token_hash.exists())
        except DeleteError:
            return None
        return {str(k): str(v) for k, v in json.loads(item.data).items()}
