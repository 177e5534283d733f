"""moto's DynamoDB made as atomic as the real service (``chalicelib/local/atomic_moto.py``).

Without it, eight conditional puts of one new key at once sometimes all pass the condition
before any writes (about one round in sixty here): the stand-in, not the app, then reports
two winners. With it, every round has exactly one.
"""
from __future__ import annotations

import sys
import threading

import boto3
from botocore.exceptions import ClientError

from chalicelib.local.atomic_moto import _WRITES


def test_the_conditional_writes_of_the_stand_in_are_wrapped(aws):
    from moto.dynamodb.models import DynamoDBBackend

    wrapped = [name for name in _WRITES if hasattr(getattr(DynamoDBBackend, name, None), "__wrapped__")]
    assert {"put_item", "update_item", "transact_write_items"} <= set(wrapped)


def test_one_winner_per_key_however_the_threads_interleave(aws):
    db = boto3.client("dynamodb", region_name="eu-west-3")
    db.create_table(TableName="race", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_no in range(60):
            barrier, winners = threading.Barrier(8), []

            def put(i: int, barrier=barrier, winners=winners, round_no=round_no) -> None:
                barrier.wait()
                try:
                    db.put_item(TableName="race", Item={"k": {"S": f"r{round_no}"}, "v": {"N": str(i)}},
                                ConditionExpression="attribute_not_exists(k)")
                    winners.append(i)
                except ClientError as error:
                    assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"

            threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(winners) == 1, f"round {round_no}: {winners}"
            stored = db.get_item(TableName="race", Key={"k": {"S": f"r{round_no}"}})["Item"]
            assert stored["v"]["N"] == str(winners[0])
    finally:
        sys.setswitchinterval(previous)
