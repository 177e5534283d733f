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


# --- French typography -------------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from chalicelib.domain.formatting import french_typography, french_typography_html  # noqa: E402

NB, THIN = "\u00a0", "\u202f"


@pytest.mark.parametrize("text, expected", [
    ("Pour toute question : écrivez-nous.", f"Pour toute question{NB}: écrivez-nous."),
    ("Mot de passe oublié ?", f"Mot de passe oublié{THIN}?"),
    ("Attention ! Lisez ceci ; merci.", f"Attention{THIN}! Lisez ceci{THIN}; merci."),
    ("cliquez sur « Enregistrer ma demande »", f"cliquez sur «{NB}Enregistrer ma demande{NB}»"),
    ("«Devis»", f"«{NB}Devis{NB}»"),
    ("Montant : 1 234,50 €", f"Montant{NB}: 1{THIN}234,50{NB}€"),
    ("20 % de 12 000 000 habitants", f"20{THIN}% de 12{THIN}000{THIN}000 habitants"),
    ("Saison 2027 : 120 organisations", f"Saison 2027{NB}: 120 organisations"),
])
def test_french_typography(text, expected):
    assert french_typography(text) == expected


@pytest.mark.parametrize("text", [
    "https://adhesions.example/connexion?suite=/mon-compte#x",
    "Rendez-vous à 10:00, le 1er décembre 2026.",
    "IBAN FR76 3000 6000 0112 3456 7890 189",
    "Subject: Votre facture",
    f"Déjà juste{NB}: «{NB}oui{NB}» et 30{NB}€{THIN}!",
    "Colonne     : alignée",  # only the space next to the colon changes
])
def test_what_french_typography_leaves_alone(text):
    result = french_typography(text)
    if text.startswith("Colonne"):
        assert result == f"Colonne    {NB}: alignée"
    else:
        assert result == text


def test_html_changes_only_text_between_tags():
    html = ('<p title="Note : a ?" data-x="1 000">Oui : <a href="https://x.example/?a=1 ;">lien ?</a>'
            '<textarea name="c">Tapé : tel quel ?</textarea><style>a :hover { color: red; }</style>'
            '<!-- note : rien --><pre>Texte : brut</pre></p>')
    assert french_typography_html(html) == (
        f'<p title="Note : a ?" data-x="1 000">Oui{NB}: <a href="https://x.example/?a=1 ;">lien{THIN}?</a>'
        '<textarea name="c">Tapé : tel quel ?</textarea><style>a :hover { color: red; }</style>'
        f'<!-- note : rien --><pre>Texte : brut</pre></p>')


def test_the_jinja_filter_escapes_first_and_keeps_markup(tmp_path):
    from markupsafe import Markup

    from chalicelib.adapters.templates import TemplateRenderer

    (tmp_path / "p.html").write_text("{{ v|typo }}|{% filter typo %}<b>Oui ?</b> {{ v }}{% endfilter %}")
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "m.txt").write_text("Subject: Bonjour !\n\n{{ v }} : <ok> ?\n")
    (tmp_path / "email" / "m.html").write_text("{{ v|typo }}")
    renderer = TemplateRenderer(tmp_path)
    page = renderer.page("p.html", v="<script>x ? 1</script>")
    assert page == (f"&lt;script&gt;x{THIN}? 1&lt;/script&gt;|<b>Oui{THIN}?</b> "
                    f"&lt;script&gt;x{THIN}? 1&lt;/script&gt;")
    subject, text, html = renderer.email("m", v="a")  # text emails are set as plain text
    assert subject == f"Bonjour{THIN}!" and text == f"a{NB}: <ok>{THIN}?" and html == "a"
    template = renderer.env.overlay(autoescape=True).from_string("{{ v|typo }}")
    assert template.render(v=Markup("<i>Oui ?</i>")) == f"<i>Oui{THIN}?</i>"


_prose = st.text(alphabet=st.sampled_from(list("ab1234567890 :;!?%€«»/.,\u00a0\u202f\n")), max_size=40)


@given(_prose)
def test_french_typography_is_idempotent(text):
    once = french_typography(text)
    assert french_typography(once) == once


@given(_prose)
def test_french_typography_only_sets_spaces(text):
    """Nothing but spaces changes: without the spaces the text is the same."""
    def strip(value):
        return "".join(value.split())
    assert strip(french_typography(text)) == strip(text)


@given(st.text(alphabet=st.sampled_from(list("ab12 :?€«»<>&\"'")), max_size=40))
def test_html_version_on_escaped_text_is_idempotent_and_keeps_escapes(text):
    from markupsafe import escape

    escaped = str(escape(text))
    once = french_typography_html(escaped)
    assert french_typography_html(once) == once
    assert "".join(once.split()) == "".join(escaped.split())
