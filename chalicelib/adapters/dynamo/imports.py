"""Uploaded import files waiting for staff confirmation (the file itself is in S3).

Between the dry run and the confirmation the file stays on the server: the confirm form
only carries this record's id, and the file is read, parsed and checked again. Records
expire after a day (TTL); a record is confirmed once only (conditional update).
"""
from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from ...domain.errors import ConcurrentUpdate
from ...domain.member_import import ImportUpload  # re-exported: the record lives in the domain
from .tables import _meta


class ImportUploadTable(Model):
    Meta = _meta("imports")
    import_id = UnicodeAttribute(hash_key=True)
    s3_key = UnicodeAttribute()
    filename = UnicodeAttribute(default="")
    sha256 = UnicodeAttribute()
    size = NumberAttribute()
    uploaded_by = UnicodeAttribute()
    uploaded_at = UTCDateTimeAttribute()
    confirmed_at = UTCDateTimeAttribute(null=True)
    confirmed_by = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


def _to_domain(i: ImportUploadTable) -> ImportUpload:
    return ImportUpload(i.import_id, i.s3_key, i.filename, i.sha256, int(i.size), i.uploaded_by, i.uploaded_at,
                        i.expires_at, i.confirmed_at, i.confirmed_by)


class DynamoImports:
    def add(self, upload: ImportUpload) -> None:
        ImportUploadTable(
            upload.import_id, s3_key=upload.s3_key, filename=upload.filename, sha256=upload.sha256,
            size=upload.size, uploaded_by=upload.uploaded_by, uploaded_at=upload.uploaded_at,
            expires_at=upload.expires_at,
        ).save(condition=ImportUploadTable.import_id.does_not_exist())

    def get(self, import_id: str) -> ImportUpload | None:
        try:
            return _to_domain(ImportUploadTable.get(import_id, consistent_read=True))
        except DoesNotExist:
            return None

    def claim(self, import_id: str, actor: str, now: datetime) -> None:
        """Mark the upload confirmed; a second confirmation, even concurrent, raises ConcurrentUpdate."""
        t = ImportUploadTable
        try:
            t(import_id).update(actions=[t.confirmed_at.set(now), t.confirmed_by.set(actor)],
                                condition=t.import_id.exists() & t.confirmed_at.does_not_exist())
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate("Cet import a déjà été confirmé.") from error
            raise
