"""AWS clients with retries and timeouts chosen for Lambda, never the libraries' defaults.

botocore's defaults (60 s to read an answer, "legacy" retries) and pynamodb's (15 s to connect,
30 s to read) exceed the API function's 28 s timeout: one slow call would end the invocation
without an answer. Here every call gives up in seconds, so the page can say so in French:

- **DynamoDB** (pynamodb models and the transactions' connection): 1 s to connect, 3 s to
  read, botocore's *standard* retry mode with 3 attempts in all (exponential backoff with
  jitter; throttling, 5xx and connection errors are retried). Transactions are retried too:
  their idempotency (fixed keys, conditions) makes a repeated commit harmless.
- **S3** (documents, purchase orders up to 4 MiB): 2 s to connect, 6 s to read, 3 attempts.
- **SES v2**, **SQS**, **SSM**: 2 s to connect, 5 s to read, 3 attempts. A failed send is not
  lost: the message stays in the outbox and ``retry_pending_emails`` tries again later.

Worst case for one call: 3 × (connect + read) plus backoff, 12 s for DynamoDB and 24 s for S3,
under the API function's timeout; the scheduled functions have minutes.
"""
from __future__ import annotations

RETRY_MODE = "standard"
ATTEMPTS = 3  # in all: the first call and two retries
DYNAMODB_TIMEOUTS = {"connect_timeout_seconds": 1, "read_timeout_seconds": 3}
TIMEOUTS = {"s3": (2, 6), "sesv2": (2, 5), "sqs": (2, 5), "ssm": (2, 5)}


def client_config(service: str, **options):
    """The botocore ``Config`` of ``service``'s client (``options``: e.g. S3 addressing)."""
    from botocore.config import Config

    connect, read = TIMEOUTS[service]
    return Config(connect_timeout=connect, read_timeout=read,
                  retries={"mode": RETRY_MODE, "total_max_attempts": ATTEMPTS}, **options)


def client(service: str, region: str, **options):
    import boto3

    return boto3.client(service, region_name=region, config=client_config(service, **options))
