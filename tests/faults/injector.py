"""AWS calls that fail on purpose: before they are sent, or after they succeeded with the answer lost.

The faults are injected above botocore's retries (around ``BaseClient._make_api_call``), so a
drawn fault reaches the app as the last attempt's failure would: these rates model a severe
outage, not a normal day. Every client is affected, pynamodb's included, for the services named.

- ``before``: the call never reaches AWS (a connection error or throttling): nothing changed;
- ``after``: the call reached AWS and took effect, then its answer was lost (a read timeout).

A lost SES answer is the one fault the app cannot tell from a failed send: the email went out,
and the outbox sends it again. So is an email SES took whose « sent » mark could not be written
(the outbox retries the mark, then gives up). Those Message-IDs are kept, so that the duplicates
they cause are counted as tolerated, and any other duplicate is a bug.
"""
from __future__ import annotations

import email
import random
import threading
from collections import Counter
from contextlib import contextmanager

import botocore.client
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

SERVICES = ("dynamodb", "s3", "sesv2")
# Calls that change something fail at the full rate; reads at a fifth of it. At 25 % on every
# read, a page that makes twenty reads would answer once in 300 tries and no season would end;
# what can be lost or half-done is decided by the writes.
READ_SHARE = 0.2
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem", "PutObject",
           "DeleteObject", "DeleteObjects", "CopyObject", "SendEmail"}
_THROTTLING = {"dynamodb": "ProvisionedThroughputExceededException", "s3": "SlowDown",
               "sesv2": "TooManyRequestsException"}


class FaultInjector:
    """``with FaultInjector(seed, rate): …`` makes ``rate`` of the calls to ``services`` fail."""

    def __init__(self, seed: int, rate: float, services: tuple[str, ...] = SERVICES):
        self.rng = random.Random(seed)
        self.rate = rate
        self.services = services
        self.active = False
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()  # "dynamodb:before", "s3:after", …
        self.lost_ses_answers: list[str] = []  # Message-IDs of emails SES took whose answer was lost
        self.unrecorded_sends: list[str] = []  # … SES took them, then marking them sent failed
        self._lock = threading.Lock()
        self._original = None
        self._calm = threading.local()

    @contextmanager
    def paused(self):
        """No fault on this thread meanwhile: the test's own reads and set-up."""
        self._calm.on = True
        try:
            yield
        finally:
            self._calm.on = False

    def __enter__(self) -> FaultInjector:
        self._original = original = botocore.client.BaseClient._make_api_call
        injector = self

        def make_api_call(client, operation_name, api_params):
            service = client.meta.service_model.service_name
            fault = injector._draw(service, operation_name)
            if fault is not None and _marks_sent(operation_name, api_params):
                injector._unrecorded()  # before or after: the mark may never land
            if fault == "before":
                if injector.rng.random() < 0.5:
                    raise EndpointConnectionError(endpoint_url=f"https://{service}.injected")
                raise ClientError({"Error": {"Code": _THROTTLING.get(service, "Throttling"),
                                             "Message": "injected"}}, operation_name)
            result = original(client, operation_name, api_params)
            if service == "sesv2":
                injector._calm.last_sent = _message_id(api_params)
            if fault == "after":
                if service == "sesv2":
                    with injector._lock:
                        injector.lost_ses_answers.append(injector._calm.last_sent)
                raise ReadTimeoutError(endpoint_url=f"https://{service}.injected")
            return result

        botocore.client.BaseClient._make_api_call = make_api_call
        return self

    def __exit__(self, *exc) -> None:
        botocore.client.BaseClient._make_api_call = self._original
        self.active = False

    def _draw(self, service: str, operation: str) -> str | None:
        if service not in self.services or getattr(self._calm, "on", False):
            return None
        with self._lock:
            if not self.active:
                return None
            self.calls[service] += 1
            rate = self.rate if operation in _WRITES else self.rate * READ_SHARE
            if self.rng.random() >= rate:
                return None
            fault = "before" if self.rng.random() < 0.5 else "after"
            self.faults[f"{service}:{fault}"] += 1
            return fault

    def _unrecorded(self) -> None:
        """A fault on an outbox update right after SES took an email on this thread: if it was
        the update marking that email sent, the outbox may send it again (SES took it; the app
        could not record it)."""
        sent = getattr(self._calm, "last_sent", "")
        if sent:
            with self._lock:
                self.unrecorded_sends.append(sent)


def _marks_sent(operation: str, params: dict) -> bool:
    """Whether the call is the outbox update that marks an email sent."""
    return (operation == "UpdateItem" and str(params.get("TableName", "")).endswith("outbox")
            and "sent_at" in params.get("ExpressionAttributeNames", {}).values())


def _message_id(params: dict) -> str:
    raw = params.get("Content", {}).get("Raw", {}).get("Data") or b""
    return email.message_from_bytes(raw).get("Message-ID", "") if raw else ""
