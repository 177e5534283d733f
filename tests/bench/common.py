"""Shared pieces of `make bench`: figures, percentiles, the moto set-up, DynamoDB call counting."""
from __future__ import annotations

import os
import statistics
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def start_moto() -> None:
    """Same set-up as the tests: environment first, then moto, then the app."""
    os.environ.update({
        "APP_STAGE": "local", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-3", "TABLE_PREFIX": "bench-", "DOCUMENTS_BUCKET": "bench-documents",
        "SENDER_EMAIL": "adhesions@cite-verte.example", "BASE_URL": "https://adhesions.bench",
    })
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    from chalicelib.adapters.local_aws import create_resources
    from chalicelib.config import get_config

    create_resources(get_config())


class DynamoCounter:
    """Counts the DynamoDB operations pynamodb makes (by operation name)."""

    def __init__(self):
        self.calls: Counter[str] = Counter()

    @contextmanager
    def installed(self):
        from pynamodb.connection.base import Connection

        original = Connection._make_api_call

        def counting(conn, operation_name, *args, **kwargs):
            self.calls[operation_name] += 1
            return original(conn, operation_name, *args, **kwargs)

        Connection._make_api_call = counting
        try:
            yield self
        finally:
            Connection._make_api_call = original

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())
