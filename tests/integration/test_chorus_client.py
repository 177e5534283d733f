"""The Chorus Pro client against the stand-in over HTTP: tokens, retries, errors in French."""
from __future__ import annotations

import pytest

from chalicelib.adapters.chorus_pro import (
    ChorusProClient,
    ChorusProRefused,
    ChorusProUnavailable,
    Credentials,
)
from chalicelib.domain.model import PublicBuyerRequirement
from chalicelib.local.chorus_standin import DEMO_CREDENTIALS, EITHER_SIRET, UNKNOWN_SIRET


def make_client(chorus, sleeps=None, **changes):
    credentials = Credentials(**{**DEMO_CREDENTIALS, **changes})
    return ChorusProClient(chorus.url, chorus.url, credentials,
                           sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def test_the_directory_gives_the_structure_its_requirements_and_active_services(chorus):
    structure = make_client(chorus).structure("20004567800028")
    assert structure.name == "Communauté d'agglomération du Val Fleuri" and structure.active
    assert structure.requirement is PublicBuyerRequirement.BOTH
    assert [s.code for s in structure.services] == ["DIR-NATURE", "DIR-FIN"]  # the inactive one left out
    assert make_client(chorus).structure(EITHER_SIRET).requirement is PublicBuyerRequirement.EITHER
    assert make_client(chorus).structure(UNKNOWN_SIRET) is None


def test_one_token_serves_many_calls_and_an_expired_one_is_renewed(chorus):
    client = make_client(chorus)
    client.structure("21490123400015")
    client.structure("21440987600019")
    assert sum(1 for path, _ in chorus.requests if path.endswith("/oauth/token")) == 1
    chorus.expire_tokens()
    assert client.structure("21490123400015") is not None
    assert sum(1 for path, _ in chorus.requests if path.endswith("/oauth/token")) == 2


def test_429_is_retried_after_its_retry_after(chorus):
    sleeps: list[float] = []
    chorus.fail_next(count=2, status=429, path_contains="/structures/v1/rechercher", retry_after=2)
    assert make_client(chorus, sleeps).structure("21490123400015") is not None
    assert sleeps[:2] == [2.0, 2.0]


def test_a_lasting_outage_is_a_french_unavailable_error(chorus):
    chorus.fail_next(count=3, status=503, path_contains="/structures/")
    with pytest.raises(ChorusProUnavailable) as caught:
        make_client(chorus).structure("21490123400015")
    assert "indisponible" in caught.value.message and "nouvel essai" in caught.value.message


def test_wrong_application_credentials_are_refused_in_french(chorus):
    with pytest.raises(ChorusProRefused) as caught:
        make_client(chorus, client_secret="faux").structure("21490123400015")
    assert "PISTE refuse les identifiants" in caught.value.message


def test_a_wrong_technical_account_is_refused_in_french(chorus):
    with pytest.raises(ChorusProRefused) as caught:
        make_client(chorus, password="faux").structure("21490123400015")
    assert "compte technique" in caught.value.message


def test_a_deposit_whose_answer_is_lost_is_not_sent_again_by_the_client(chorus):
    chorus.lose_next_answer("/deposer/flux")
    with pytest.raises(ChorusProUnavailable):
        make_client(chorus).deposit(b"%PDF-1.7 not a real invoice", "FAC-2027-00001.pdf")
    assert len(chorus.flows()) == 1  # taken once by the platform, never twice


def test_a_malformed_deposit_is_refused_with_the_platforms_words(chorus):
    with pytest.raises(ChorusProRefused) as caught:
        make_client(chorus).deposit(b"", "")
    assert "Chorus Pro refuse la demande (HTTP 400" in caught.value.message


def test_credentials_never_show_their_secrets():
    shown = repr(Credentials(**DEMO_CREDENTIALS))
    assert DEMO_CREDENTIALS["client_secret"] not in shown and DEMO_CREDENTIALS["password"] not in shown
    with pytest.raises(ChorusProRefused):
        Credentials.from_json('{"client_id": "x"}')
