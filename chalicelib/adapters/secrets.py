"""Secrets kept in SSM Parameter Store as SecureString parameters (decrypted by SSM with KMS)."""
from __future__ import annotations


def read_secure_parameter(name: str, region: str) -> bytes:
    """The decrypted value of the SSM parameter ``name``; RuntimeError naming it if it cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .aws import client  # only the functions that need a secret pay for the client

    try:
        response = client("ssm", region).get_parameter(Name=name, WithDecryption=True)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise RuntimeError(f"cannot read the SSM parameter {name} ({code or error}): "
                           f"create it as a SecureString and grant ssm:GetParameter on it") from error
    except BotoCoreError as error:
        raise RuntimeError(f"cannot read the SSM parameter {name}: {error}") from error
    value = response["Parameter"].get("Value", "")
    if not value:
        raise RuntimeError(f"the SSM parameter {name} is empty")
    return value.encode()
