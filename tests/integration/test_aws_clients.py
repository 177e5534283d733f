"""Retries and timeouts are set for Lambda on every AWS client the app makes (adapters/aws.py)."""
from __future__ import annotations

from chalicelib.adapters import aws as aws_clients
from chalicelib.adapters.dynamo.tables import OrganisationTable, shared_connection
from chalicelib.adapters.queue import SqsQueue
from chalicelib.adapters.ses import SesMailer
from chalicelib.adapters.storage import S3Storage

LAMBDA_TIMEOUT = 28  # api_handler's, .chalice/config.json


def _settings(client) -> tuple[float, float, dict]:
    config = client.meta.config
    return config.connect_timeout, config.read_timeout, config.retries


def test_s3_ses_and_sqs_clients_retry_in_standard_mode_and_give_up_in_seconds(aws):
    for client in (S3Storage("test-documents", "eu-west-3")._client, SesMailer("eu-west-3")._client,
                   SqsQueue("q", "eu-west-3")._client):
        connect, read, retries = _settings(client)
        assert retries == {"mode": "standard", "total_max_attempts": 3}
        assert aws_clients.ATTEMPTS * (connect + read) < LAMBDA_TIMEOUT
    assert S3Storage("test-documents", "eu-west-3")._client.meta.config.s3 == {"addressing_style": "virtual"}


def test_dynamodb_models_and_transactions_too(aws):
    table_client = OrganisationTable._get_connection().connection.client
    for client in (table_client, shared_connection().client):
        connect, read, retries = _settings(client)
        assert (connect, read) == (1, 3)
        assert retries == {"mode": "standard", "total_max_attempts": 3}
