"""Outside the local stage the CSRF key is an SSM SecureString, read and decrypted once per process."""
from __future__ import annotations

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib import config as config_module
from chalicelib.config import get_config

PARAMETER = "/adhesions/prod/csrf-secret"
KEY = "k3y-0f-the-prod-stage-" + "x" * 26


@pytest.fixture
def fresh_config(aws, monkeypatch):
    """``get_config()`` read again, as a cold start would, in the prod stage."""
    monkeypatch.setenv("APP_STAGE", "prod")
    monkeypatch.delenv("CSRF_SECRET", raising=False)
    monkeypatch.setenv("CSRF_SECRET_PARAMETER", PARAMETER)
    get_config.cache_clear()
    config_module._secure_parameter.cache_clear()
    yield
    get_config.cache_clear()
    config_module._secure_parameter.cache_clear()


@pytest.fixture
def ssm_calls(monkeypatch):
    calls = []
    original = BaseClient._make_api_call

    def recording(client, operation, params):
        if client.meta.service_model.service_name == "ssm":
            calls.append((operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def _ssm():
    return boto3.client("ssm", region_name="eu-west-3")


def test_the_csrf_key_is_the_decrypted_securestring_read_once_per_process(fresh_config, ssm_calls):
    # Given the key stored as a SecureString (stored encrypted: read raw, it is not the key)
    _ssm().put_parameter(Name=PARAMETER, Type="SecureString", Value=KEY)
    assert _ssm().get_parameter(Name=PARAMETER)["Parameter"]["Value"] != KEY
    ssm_calls.clear()
    # When the prod configuration is read and the key used
    config = get_config()
    assert config.stage == "prod" and config.csrf_secret_parameter == PARAMETER
    assert ssm_calls == []  # nothing read before a form needs it
    # Then it is the decrypted value
    assert config.csrf_secret == KEY.encode()
    assert ssm_calls == [("GetParameter", {"Name": PARAMETER, "WithDecryption": True})]
    # and it is not read again in this process, even by a new Config
    _ssm().put_parameter(Name=PARAMETER, Type="SecureString", Value="rotated-" + KEY, Overwrite=True)
    get_config.cache_clear()
    assert get_config().csrf_secret == KEY.encode()
    assert [c for c in ssm_calls if c[0] == "GetParameter" and c[1].get("WithDecryption")] == ssm_calls[:1]
    # and the key appears in no repr (logs, tracebacks)
    assert KEY not in repr(get_config())


def test_a_missing_parameter_stops_with_an_error_naming_it_and_is_read_again_once_created(fresh_config):
    config = get_config()
    with pytest.raises(RuntimeError, match=f"SSM parameter {PARAMETER}.*ParameterNotFound"):
        _ = config.csrf_secret
    # A failed read is not remembered: once the parameter exists, the next request works.
    _ssm().put_parameter(Name=PARAMETER, Type="SecureString", Value=KEY)
    assert config.csrf_secret == KEY.encode()


def test_outside_the_local_stage_a_configuration_without_the_parameter_is_refused(fresh_config, monkeypatch):
    monkeypatch.delenv("CSRF_SECRET_PARAMETER")
    with pytest.raises(RuntimeError, match="CSRF_SECRET_PARAMETER"):
        get_config()


def test_an_explicit_csrf_secret_wins_and_needs_no_ssm(fresh_config, monkeypatch, ssm_calls):
    monkeypatch.setenv("CSRF_SECRET", "given-in-the-environment")
    assert get_config().csrf_secret == b"given-in-the-environment"
    assert ssm_calls == []


def test_the_local_stage_keeps_its_per_process_key_and_ignores_the_parameter(fresh_config, monkeypatch, ssm_calls):
    monkeypatch.setenv("APP_STAGE", "local")
    assert get_config().csrf_secret == config_module._LOCAL_CSRF_SECRET
    assert ssm_calls == []
