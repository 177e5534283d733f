"""An SQS queue of text messages (boto3, client built on first use)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

BATCH = 10  # SendMessageBatch's limit


@dataclass(frozen=True)
class ReceivedMessage:
    body: str
    receipt: str


class SqsQueue:
    def __init__(self, name: str, region: str):
        self.name = name
        self._region = region

    @cached_property
    def _client(self):
        from .aws import client

        return client("sqs", self._region)

    @cached_property
    def url(self) -> str:
        return self._client.get_queue_url(QueueName=self.name)["QueueUrl"]

    def send_many(self, bodies: list[str]) -> None:
        """Queue every body (10 per request); raise if SQS refused any of them."""
        for start in range(0, len(bodies), BATCH):
            batch = bodies[start:start + BATCH]
            response = self._client.send_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "MessageBody": body} for n, body in enumerate(batch)
            ])
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} message(s): {response['Failed'][0]}")

    def receive(self, max_messages: int = 1, visibility_seconds: int = 900) -> list[ReceivedMessage]:
        """Take up to ``max_messages`` messages, hidden from other readers for ``visibility_seconds``."""
        response = self._client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=max(1, min(max_messages, 10)),
            VisibilityTimeout=visibility_seconds, WaitTimeSeconds=0,
        )
        return [ReceivedMessage(m["Body"], m["ReceiptHandle"]) for m in response.get("Messages", [])]

    def delete(self, receipt: str) -> None:
        self._client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def release(self, receipt: str) -> None:
        """Make a received message visible again now (as SQS does after a failed invocation)."""
        self._client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=0)

    def approximate_count(self) -> int:
        attributes = self._client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)) + \
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))


def create_queue(name: str, region: str, visibility_seconds: int = 960) -> None:
    """Create the queue if missing (local stand-in and tests; deployed queues come from infra)."""
    import boto3

    boto3.client("sqs", region_name=region).create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility_seconds)},
    )
