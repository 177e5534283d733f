"""Files in the documents bucket (S3): uploaded purchase orders, generated documents.

Keys are always chosen by the server (``S3Storage.new_key``: a prefix, the organisation,
32 random bytes), never taken from a file name, so they can be neither guessed nor steered.
Files are private; members get them through a route that checks their organisation and
then redirects to a short-lived presigned URL.
"""
from __future__ import annotations

import re
import secrets
from functools import cached_property

_SAFE_PART = re.compile(r"[A-Za-z0-9_-]+")


class S3Storage:
    """One bucket; the boto3 client is created on first use."""

    def __init__(self, bucket: str, region: str):
        self.bucket = bucket
        self._region = region

    @staticmethod
    def new_key(prefix: str, org_id: str, suffix: str = ".pdf") -> str:
        """A fresh, non-guessable key such as ``purchase-orders/<org_id>/<random>.pdf``."""
        for part in (prefix, org_id):
            if not all(_SAFE_PART.fullmatch(p) for p in part.split("/")):
                raise ValueError(f"unsafe key part: {part!r}")
        return f"{prefix}/{org_id}/{secrets.token_urlsafe(32)}{suffix}"

    @cached_property
    def _client(self):
        from .aws import client

        # Virtual-hosted, regional URLs (https://<bucket>.s3.<region>.amazonaws.com): the origin
        # ``Config.documents_origin`` announces, and no redirect from the global endpoint.
        return client("s3", self._region, s3={"addressing_style": "virtual"})

    def put(self, key: str, data: bytes, content_type: str = "application/pdf") -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                                ServerSideEncryption="AES256")

    def get(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def written_between(self, prefix: str, since, before) -> list[str]:
        """Keys under ``prefix`` last written in [``since``, ``before``) (datetimes), every page."""
        keys = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if since <= o["LastModified"] < before]
        return keys

    def download_url(self, key: str, filename: str, seconds: int = 300, content_type: str | None = None) -> str:
        """A presigned GET valid ``seconds`` (at most 5 minutes), served as an attachment."""
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "document.pdf"
        params = {"Bucket": self.bucket, "Key": key,
                  "ResponseContentDisposition": f'attachment; filename="{safe_name}"'}
        if content_type:
            params["ResponseContentType"] = content_type
        return self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=min(seconds, 300))
