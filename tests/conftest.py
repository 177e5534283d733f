"""Test set-up shared by every layer.

moto must be running, and the environment set, before any app module is imported:
pynamodb reads table names when its models are defined, and a client created before
moto starts would escape it. So this module does both at import time.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

os.environ.update({
    "APP_STAGE": "local",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-3",
    "TABLE_PREFIX": "test-",
    "DOCUMENTS_BUCKET": "test-documents",
    "SENDER_EMAIL": "adhesions@cite-verte.example",
    "BASE_URL": "https://adhesions.test",
})
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)

from moto import mock_aws  # noqa: E402

# The Chorus Pro stand-in, like moto for AWS: one server for the session, emptied per test.
from chalicelib.local.chorus_standin import DEMO_CREDENTIALS, ChorusProStandIn  # noqa: E402

CHORUS = ChorusProStandIn()
os.environ.update({"CHORUS_PRO_API_URL": CHORUS.start(), "CHORUS_PRO_CREDENTIALS": __import__("json").dumps(DEMO_CREDENTIALS)})

from chalicelib.local.atomic_moto import make_dynamodb_atomic  # noqa: E402

_aws = mock_aws()
_aws.start()
make_dynamodb_atomic()  # conditional writes and transactions as atomic as DynamoDB's

import pytest  # noqa: E402

from chalicelib.config import get_config  # noqa: E402
from chalicelib.runtime import Runtime, set_runtime  # noqa: E402


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc))


@pytest.fixture
def aws():
    """Fresh, empty AWS stand-in with the app's tables, bucket and SES sender."""
    from chalicelib.adapters.local_aws import create_resources

    _aws.reset()
    create_resources(get_config())
    yield


@pytest.fixture
def chorus(clock) -> ChorusProStandIn:
    """The Chorus Pro stand-in, emptied (the demo directory only), on the test clock."""
    from chalicelib.services.chorus import forget_directory
    from chalicelib.web import dev_routes

    CHORUS.reset()
    CHORUS.clock = clock
    forget_directory()
    dev_routes.STANDIN = CHORUS
    yield CHORUS
    CHORUS.clock = lambda: datetime.now(timezone.utc)


@pytest.fixture
def rt(aws, clock, chorus) -> Runtime:
    """A runtime on the fresh stand-ins, with the test clock; installed for the app too."""
    runtime = Runtime(get_config(), clock=clock)
    set_runtime(runtime)
    yield runtime
    set_runtime(None)


@pytest.fixture
def demo(rt):
    """The demo data of ``make run``: association, tariffs, members and staff."""
    from chalicelib.local.demo import load_demo_data

    return load_demo_data(rt)


def sent_emails(region: str = "eu-west-3", typography: bool = False):
    """The messages SES took; their subject, text and HTML with the French no-break spaces
    (U+00A0, U+202F) read as spaces unless ``typography`` (tests assert on words)."""
    from dataclasses import replace

    from chalicelib.adapters.dev_mailbox import LocalMailbox

    messages = LocalMailbox(region).messages()
    if typography:
        return messages

    def plain(text: str) -> str:
        return text.replace("\u00a0", " ").replace("\u202f", " ")
    return [replace(m, subject=plain(m.subject), text=plain(m.text), html=plain(m.html)) for m in messages]


def at_once(*actions):
    """Run the actions on threads released together; return what each returned or raised."""
    import threading

    barrier, outcomes = threading.Barrier(len(actions)), [None] * len(actions)

    def run(i, action):
        barrier.wait()
        try:
            outcomes[i] = action()
        except Exception as error:  # collected: a thread's exception would otherwise vanish
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
