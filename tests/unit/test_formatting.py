from datetime import date
from decimal import Decimal

import pytest

from chalicelib.domain.formatting import format_date, format_eur, to_money


@pytest.mark.parametrize("amount, text", [
    (Decimal("0"), "0,00\u00a0€"), (Decimal("720"), "720,00\u00a0€"),
    (Decimal("1234.5"), "1\u202f234,50\u00a0€"), (Decimal("1234567.891"), "1\u202f234\u202f567,89\u00a0€"),
    (Decimal("-40"), "-40,00\u00a0€"),
])
def test_euros_in_french(amount, text):
    assert format_eur(amount) == text


def test_money_is_never_a_float():
    with pytest.raises(TypeError):
        to_money(1.1)


def test_dates_in_french():
    assert format_date(date(2026, 12, 1)) == "1er décembre 2026"
    assert format_date(date(2027, 8, 15)) == "15 août 2027"


def test_long_non_ascii_subjects_keep_their_spaces():
    from datetime import datetime, timezone
    from email import message_from_bytes, policy

    from chalicelib.adapters.ses import compose_message

    subject = "Votre demande de renouvellement pour 2027 est enregistrée — Cité Verte"
    raw = compose_message(sender="a@b.fr", sender_name="Cité Verte", recipients=["x@y.fr"], subject=subject,
                          text="texte", html="<p>html</p>", sent_at=datetime.now(timezone.utc))
    assert str(message_from_bytes(raw, policy=policy.default)["Subject"]) == subject
