"""Creates the AWS resources the app uses, for the embedded stand-in (``make run``) and tests.

In deployed stages the same resources come from ``infra/``; here they are made from the
pynamodb models so that the two cannot differ.
"""
from __future__ import annotations

import boto3

from ..config import Config
from .dynamo.schema import ALL_TABLES
from .queue import create_queue


def create_resources(config: Config) -> None:
    """Tables (with TTL), the documents bucket, a verified SES sender and the campaign queue."""
    dynamodb = boto3.client("dynamodb", region_name=config.region)
    for table in ALL_TABLES:
        if not table.exists():
            table.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        ttl = next((attr.attr_name for attr in table.get_attributes().values()
                    if type(attr).__name__ == "TTLAttribute"), None)
        if ttl:
            dynamodb.update_time_to_live(
                TableName=table.Meta.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
            )
    s3 = boto3.client("s3", region_name=config.region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if config.documents_bucket not in existing:
        s3.create_bucket(
            Bucket=config.documents_bucket,
            CreateBucketConfiguration={"LocationConstraint": config.region},
        )
    ses = boto3.client("sesv2", region_name=config.region)
    ses.create_email_identity(EmailIdentity=config.sender_email)
    create_queue(config.campaign_queue, config.region)
    create_queue(config.tasks_queue, config.region, visibility_seconds=60)


def delete_tables() -> None:
    for table in ALL_TABLES:
        if table.exists():
            table.delete_table()
