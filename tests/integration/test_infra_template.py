"""infra/: the generated resources match the code — tables, bucket, queues, sender, policies.

The stage template is generated in a fresh process, as ``make package`` does (the app is
imported with the stage's environment). Its tables are deployed into moto's CloudFormation in
a region the other tests do not use, and every pynamodb model is pointed at its deployed
table and queried through each of its indexes.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from chalicelib.adapters.dynamo.schema import ALL_TABLES
from chalicelib.config import get_config

ROOT = Path(__file__).resolve().parents[2]
STAGE = "prod"
STACK_REGION = "eu-central-1"  # the app's tests use eu-west-3
ACCOUNT = "123456789012"
# moto's CloudFormation creates these types; it only warns about the others.
MOTO_TYPES = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SNS::Topic"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The prod stage's merge template and policies, generated as ``make package`` does."""
    out = tmp_path_factory.mktemp("infra")
    done = subprocess.run(
        [sys.executable, "-m", "infra.build", "--stage", STAGE, "--out", str(out / "infra.json"),
         "--policies", str(out / "policies")],
        cwd=ROOT, capture_output=True, text=True, env=_clean_env(),
    )
    assert done.returncode == 0, done.stderr
    template = json.loads((out / "infra.json").read_text())
    policies = {p.name.removeprefix("policy-").removesuffix(".json"): json.loads(p.read_text())
                for p in (out / "policies").glob("policy-*.json")}
    return template, policies


def _clean_env() -> dict:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}


def _stage_settings() -> dict:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["stages"][STAGE]["environment_variables"]


def _resources(template, kind):
    return {k: r for k, r in template["Resources"].items() if r.get("Type") == kind}


def _table_for(template, model):
    name = model.Meta.table_name.removeprefix(get_config().table_prefix)
    physical = _stage_settings()["TABLE_PREFIX"] + name
    found = [r for r in _resources(template, "AWS::DynamoDB::Table").values()
             if r["Properties"]["TableName"] == physical]
    assert found, f"{model.__name__}: no table {physical} in infra"
    return found[0]


# --- tables --------------------------------------------------------------------------------
@contextmanager
def _model_pointed_at(model, table_name: str, region: str):
    meta = model.Meta
    saved = (meta.table_name, meta.region)
    meta.table_name, meta.region = table_name, region
    try:
        yield model
    finally:
        meta.table_name, meta.region = saved


def _key_value(attribute_type: str):
    return {"S": "absent", "N": 0, "B": b"absent"}[attribute_type]


def test_every_model_finds_its_table_with_the_same_keys_and_indexes_in_the_deployed_stack(generated):
    template, _ = generated
    # Given infra's tables deployed by CloudFormation (moto), in their own region
    resources = {k: r for k, r in template["Resources"].items() if r.get("Type") in MOTO_TYPES}
    stack = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    cloudformation = boto3.client("cloudformation", region_name=STACK_REGION)
    cloudformation.create_stack(StackName=f"adhesions-{STAGE}-check", TemplateBody=json.dumps(stack))
    dynamodb = boto3.client("dynamodb", region_name=STACK_REGION)
    for model in ALL_TABLES:
        physical = _table_for(template, model)["Properties"]["TableName"]
        schema = model._get_schema()
        deployed = dynamodb.describe_table(TableName=physical)["Table"]
        # Then the key schema and every index (keys and projection) are the model's
        assert _keys(deployed["KeySchema"]) == _keys(schema["key_schema"]), model.__name__
        types = {d["AttributeName"]: d["AttributeType"] for d in deployed["AttributeDefinitions"]}
        for d in schema["attribute_definitions"]:
            assert types[d["AttributeName"]] == d["AttributeType"], (model.__name__, d)
        for kind, deployed_key in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                                   ("local_secondary_indexes", "LocalSecondaryIndexes")):
            expected = {i["index_name"]: (_keys(i["key_schema"]), i["projection"]["ProjectionType"],
                                          sorted(i["projection"].get("NonKeyAttributes", [])))
                        for i in schema[kind]}
            actual = {i["IndexName"]: (_keys(i["KeySchema"]), i["Projection"]["ProjectionType"],
                                       sorted(i["Projection"].get("NonKeyAttributes", [])))
                      for i in deployed.get(deployed_key, [])}
            assert actual == expected, model.__name__
        # and the model itself, pointed at the deployed table, reads it and each of its indexes
        with _model_pointed_at(model, physical, STACK_REGION):
            hash_key = next(k["AttributeName"] for k in schema["key_schema"] if k["KeyType"] == "HASH")
            assert list(model.query(_key_value(types[hash_key]), limit=1)) == []
            for index in model._indexes.values():
                index_hash = next(k["AttributeName"] for k in index._get_schema()["key_schema"]
                                  if k["KeyType"] == "HASH")
                assert list(index.query(_key_value(types[index_hash]), limit=1)) == []


def _keys(key_schema):
    return sorted((k["AttributeName"], k["KeyType"]) for k in key_schema)


def test_tables_are_on_demand_with_point_in_time_recovery_and_the_models_ttl(generated):
    template, _ = generated
    from pynamodb.attributes import TTLAttribute

    for model in ALL_TABLES:
        table = _table_for(template, model)
        props = table["Properties"]
        ttl = next((a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)), None)
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props.get("TimeToLiveSpecification") == ({"AttributeName": ttl, "Enabled": True} if ttl else None)
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
        assert props["DeletionProtectionEnabled"] is True
    assert len(_resources(template, "AWS::DynamoDB::Table")) == len(ALL_TABLES)


def test_everything_make_run_creates_locally_is_declared_in_infra(aws, generated):
    # Given the resources the local stand-in was given by the code (the `aws` fixture)
    template, _ = generated
    config = get_config()
    local_tables = boto3.client("dynamodb", region_name=config.region).list_tables()["TableNames"]
    local_queues = [urlsplit(u).path.rsplit("/", 1)[1] for u in
                    boto3.client("sqs", region_name=config.region).list_queues().get("QueueUrls", [])]
    senders = [i["IdentityName"] for i in
               boto3.client("sesv2", region_name=config.region).list_email_identities()["EmailIdentities"]]
    settings = _stage_settings()
    # Then each has its deployed counterpart
    declared_tables = {r["Properties"]["TableName"] for r in _resources(template, "AWS::DynamoDB::Table").values()}
    assert {settings["TABLE_PREFIX"] + t.removeprefix(config.table_prefix) for t in local_tables} <= declared_tables
    declared_queues = {r["Properties"]["QueueName"] for r in _resources(template, "AWS::SQS::Queue").values()}
    local_prefix, stage_prefix = f"adhesions-{config.stage}-", f"adhesions-{STAGE}-"
    assert {stage_prefix + q.removeprefix(local_prefix) for q in local_queues} <= declared_queues
    buckets = [r["Properties"]["BucketName"] for r in _resources(template, "AWS::S3::Bucket").values()]
    assert buckets == [settings["DOCUMENTS_BUCKET"]]
    assert senders == [config.sender_email]
    identity = template["Resources"]["EmailIdentity"]["Properties"]["EmailIdentity"]
    assert identity == settings["SENDER_EMAIL"].rpartition("@")[2]


# --- bucket, gateway, secrets ----------------------------------------------------------------
def test_documents_bucket_is_private_encrypted_versioned_tls_only_and_refuses_old_presigned_urls(generated):
    template, _ = generated
    bucket = template["Resources"]["DocumentsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] \
        == {"SSEAlgorithm": "AES256"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    statements = template["Resources"]["DocumentsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    conditions = [s["Condition"] for s in statements if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericGreaterThan": {"s3:signatureAge": "600000"}} in conditions


def test_unknown_addresses_get_a_french_404_page_from_the_gateway(generated):
    template, _ = generated
    responses = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == 404
    page = missing["responseTemplates"]["text/html"]
    assert "Page introuvable" in page and 'lang="fr"' in page
    assert missing["responseParameters"]["gatewayresponse.header.Content-Type"] == "'text/html; charset=utf-8'"
    for response in responses.values():
        for body in response["responseTemplates"].values():
            assert "$" not in body and "#" not in body  # Velocity would read them


def test_every_gateway_response_carries_the_apps_security_headers(generated):
    """An answer API Gateway makes itself (unknown path, throttling, too large, 5xx) is as guarded
    as the app's own pages: the same header names, framing and sniffing refused, not cached."""
    template, _ = generated
    responses = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "REQUEST_TOO_LARGE"} <= set(responses)
    app_headers = {"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                   "Cache-Control", "Strict-Transport-Security"}
    for kind, response in responses.items():
        headers = {k.removeprefix("gatewayresponse.header."): v for k, v in response["responseParameters"].items()}
        assert app_headers <= set(headers), kind
        assert headers["X-Content-Type-Options"] == "'nosniff'" and headers["X-Frame-Options"] == "'DENY'", kind
        assert headers["Cache-Control"] == "'no-store'" and "sandbox" in headers["Content-Security-Policy"], kind
        assert headers["Strict-Transport-Security"].startswith("'max-age=") and "includeSubDomains" in headers[
            "Strict-Transport-Security"], kind


@pytest.mark.parametrize("variable, secret, expected_readers", [
    # The API handler renders and checks the forms; the scheduled and queued functions do not.
    ("CSRF_SECRET", "csrf-secret", {"api_handler"}),
    # The directory behind the public buyers' forms; the deposit task; the 15-minute follow-up.
    ("CHORUS_PRO_CREDENTIALS", "chorus-pro-credentials", {"api_handler", "process_task", "follow_chorus_pro"}),
])
def test_secrets_are_ssm_parameters_named_to_the_functions_never_values_in_their_environment(
        generated, variable, secret, expected_readers):
    from infra.access import FUNCTIONS

    template, policies = generated
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    texts = [json.dumps(config.get("environment_variables", {}))] + \
        [json.dumps(s.get("environment_variables", {})) for s in config["stages"].values()]
    assert not any(variable in text for text in texts)
    parameter = f"/adhesions/{STAGE}/{secret}"
    parameter_arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{parameter}"}
    readers = set()
    for name, policy in policies.items():
        logical = "APIHandler" if name == "api_handler" else "".join(p.title() for p in name.split("_"))
        variables = template["Resources"][logical]["Properties"]["Environment"]["Variables"]
        # Every function names the parameter (its config requires it); none gets the value
        assert variables[f"{variable}_PARAMETER"] == parameter
        assert variable not in variables
        assert not any("resolve:ssm" in json.dumps(value) for value in variables.values())
        # and only the functions granted it may read and decrypt it, through SSM only
        statements = {s["Sid"]: s for s in policy["Statement"]}
        if secret not in FUNCTIONS[name].read_secrets:
            assert parameter_arn not in statements.get("ReadSecrets", {}).get("Resource", []), name
            continue
        readers.add(name)
        assert statements["ReadSecrets"]["Action"] == ["ssm:GetParameter"]
        assert parameter_arn in statements["ReadSecrets"]["Resource"]
        decrypt = statements["DecryptSecrets"]
        assert decrypt["Action"] == ["kms:Decrypt"]
        assert decrypt["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"}
        assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
        assert parameter_arn in decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]
        assert statements["ReadSecrets"]["Resource"] == \
            decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]
    assert readers == expected_readers


def test_only_the_functions_reading_a_secret_have_the_grants(generated):
    from infra.access import FUNCTIONS

    _, policies = generated
    for name, policy in policies.items():
        statements = {s["Sid"] for s in policy["Statement"]}
        assert bool({"ReadSecrets", "DecryptSecrets"} & statements) == bool(FUNCTIONS[name].read_secrets), name


def test_the_email_failure_alarm_counts_what_the_outbox_logs_when_ses_refuses(rt, caplog):
    from chalicelib.domain.model import Contact, Role
    from chalicelib.local.demo import demo_association
    from chalicelib.runtime import Runtime
    from chalicelib.services.mail import send_email
    from infra.build import EMAIL_FAILURE_PATTERN

    # Given a sender SES does not know: SES refuses the message
    rt.settings.save_association(demo_association())
    refused = Runtime(replace(rt.config, sender_email="inconnu@ailleurs.example"), clock=rt.clock)
    contact = Contact("c-1", "a@b.example", "Anne B", Role.CONTACT, "org-1")
    with caplog.at_level(logging.WARNING):
        send_email(refused, kind="test", template="password_changed", recipients=[contact.email],
                   contact=contact, changed_at=rt.clock())
    # Then the log line carries the phrase the metric filter counts
    assert any(EMAIL_FAILURE_PATTERN.strip('"') in r.getMessage() for r in caplog.records), caplog.text


# --- least privilege -----------------------------------------------------------------------
def test_each_function_names_only_the_tables_bucket_prefixes_queues_and_sender_it_is_granted(generated):
    from infra.access import EVERY_TABLE, FUNCTIONS

    template, policies = generated
    assert set(policies) == set(FUNCTIONS)
    tables_by_name = {r["Properties"]["TableName"]: k for k, r in _resources(template, "AWS::DynamoDB::Table").items()}
    prefix = _stage_settings()["TABLE_PREFIX"]
    for name, policy in policies.items():
        access = FUNCTIONS[name]
        granted = set(access.tables) | set(access.read_tables)
        expected = set(tables_by_name.values()) if EVERY_TABLE[0] in granted \
            else {tables_by_name[prefix + t] for t in granted}
        named = {json.dumps(r).split('"')[3].split(".")[0].removeprefix("${")
                 for s in policy["Statement"] if s["Sid"].startswith("Tables") for r in s["Resource"]}
        assert named == expected, name
        for statement in policy["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in resources, (name, statement["Sid"])
        sids = {s["Sid"] for s in policy["Statement"]}
        assert ("SendEmail" in sids) == access.send_email
        assert ("DocumentsWrite" in sids) == bool(access.bucket_write)


def test_each_policy_fits_in_the_inline_policy_size_iam_accepts(generated):
    template, policies = generated
    stage = StageNames(template)
    for name, policy in policies.items():
        size = len(json.dumps(stage.resolve(policy), separators=(",", ":")))
        assert size < 10_240, (name, size)  # IAM: inline policies of a role, all together


def test_every_bucket_prefix_the_code_writes_under_is_granted():
    from infra.access import FUNCTIONS

    written = _prefixes_passed_to_new_key(ROOT / "chalicelib")
    assert written, "no S3Storage.new_key(...) call found: has the storage API changed?"
    granted = {p for access in FUNCTIONS.values() for p in access.bucket_write}
    assert {f"{p}/" for p in written} <= granted, "grant these prefixes in infra/access.py"


def _prefixes_passed_to_new_key(package: Path) -> set[str]:
    """The first key segment of every ``<storage>.new_key(prefix, ...)`` call in the code."""
    import ast

    found = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "new_key" and node.args:
                found.add(_literal_text(node.args[0], constants, path).split("/")[0])
    return found


def _literal_text(node, constants: dict, where: Path) -> str:
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.JoinedStr):
        first = node.values[0]
        return _literal_text(first.value if isinstance(first, ast.FormattedValue) else first, constants, where)
    raise AssertionError(f"{where}: new_key prefix {ast.unparse(node)} is not a constant")


# --- the generator follows the app ---------------------------------------------------------
def _stage(name="local"):
    from infra.build import load_stage

    return load_stage(name)


def test_a_function_without_grants_stops_the_build_with_its_name():
    from chalice import Chalice, Rate

    from infra.build import BuildError, build

    app = Chalice(app_name="adhesions")

    @app.schedule(Rate(1, unit=Rate.HOURS))
    def purge_everything(event):
        return None

    with pytest.raises(BuildError, match="purge_everything"):
        build(_stage(), app, ALL_TABLES)


def test_a_queue_consumer_gets_its_queue_a_dead_letter_queue_and_only_its_grants(monkeypatch, tmp_path):
    from chalice import Chalice

    from infra import access
    from infra import build as infra_build

    # Given an app whose only function consumes a new queue, granted one table
    app = Chalice(app_name="adhesions")

    @app.on_sqs_message(queue="adhesions-local-exports", batch_size=1)
    def export_chunk(event):
        return None

    monkeypatch.setattr(access, "FUNCTIONS", {"export_chunk": access.Access(tables=("outbox",))})
    monkeypatch.setattr(infra_build, "FUNCTIONS", access.FUNCTIONS)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["lambda_functions"] = {"export_chunk": {"iam_policy_file": "policy-export_chunk.json",
                                                   "lambda_timeout": 60}}
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    stage = infra_build.load_stage("local", tmp_path)
    # When the stage is built
    result = infra_build.build(stage, app, ALL_TABLES)
    resources = result.template["Resources"]
    # Then the queue exists, redrives to its dead-letter queue, outlives six function timeouts
    queue = resources["ExportsQueue"]["Properties"]
    assert queue["QueueName"] == "adhesions-local-exports"
    assert queue["VisibilityTimeout"] == 360
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ExportsDeadLetterQueue", "Arn"]}
    assert resources["ExportChunk"]["DependsOn"] == ["ExportsQueue"]
    assert "ExportsDeadLettersAlarm" in resources
    # and the function may consume it and use the outbox, nothing else
    statements = {s["Sid"]: s for s in result.policies["export_chunk"]["Statement"]}
    assert set(statements) == {"OwnLogs", "TablesReadWrite", "ConsumeQueue"}
    assert statements["ConsumeQueue"]["Resource"] == [{"Fn::GetAtt": ["ExportsQueue", "Arn"]}]


# --- policies are enough for what the functions do -------------------------------------------
class AwsCalls:
    """Records the AWS requests the app makes (they still reach moto), by function."""

    def __init__(self):
        self.function = None
        self.calls: list[tuple[str, str, str, dict]] = []

    @contextmanager
    def installed(self):
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def recording(client, operation, params):
            if recorder.function:
                recorder.calls.append((recorder.function, client.meta.service_model.service_name, operation,
                                       params))
            return original(client, operation, params)

        BaseClient._make_api_call = recording
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    @contextmanager
    def running(self, function: str):
        self.function = function
        try:
            yield
        finally:
            self.function = None


class StageNames:
    """Translates what the tests' configuration names into the deployed stage's names."""

    def __init__(self, template):
        self.config = get_config()
        self.settings = _stage_settings()
        self.template = template

    def table_arn(self, name: str, index: str | None = None) -> str:
        table = self.settings["TABLE_PREFIX"] + name.removeprefix(self.config.table_prefix)
        arn = f"arn:aws:dynamodb:eu-west-3:{ACCOUNT}:table/{table}"
        return f"{arn}/index/{index}" if index else arn

    def queue_arn(self, url_or_name: str) -> str:
        name = url_or_name.rstrip("/").rsplit("/", 1)[-1]
        return f"arn:aws:sqs:eu-west-3:{ACCOUNT}:" + name.replace(f"adhesions-{self.config.stage}-", f"adhesions-{STAGE}-")

    def bucket_arn(self, key: str | None = None) -> str:
        bucket = self.settings["DOCUMENTS_BUCKET"]
        return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")

    def needs(self, service: str, operation: str, params: dict) -> list[tuple[str, str, dict]]:
        """The (IAM action, resource, condition context) pairs one request is authorized against."""
        if service == "dynamodb":
            if operation in ("BatchGetItem", "BatchWriteItem"):
                return [(f"dynamodb:{operation}", self.table_arn(t), {}) for t in params["RequestItems"]]
            if operation in ("TransactWriteItems", "TransactGetItems"):
                names = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                         "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
                return [(f"dynamodb:{names[kind]}", self.table_arn(item[kind]["TableName"]), {})
                        for item in params["TransactItems"] for kind in item]
            return [(f"dynamodb:{operation}", self.table_arn(params["TableName"], params.get("IndexName")), {})]
        if service == "s3":
            if operation == "ListObjectsV2":
                return [("s3:ListBucket", self.bucket_arn(), {"s3:prefix": params.get("Prefix", "")})]
            action = {"HeadObject": "GetObject"}.get(operation, operation)
            return [(f"s3:{action}", self.bucket_arn(params["Key"]), {})]
        if service == "sesv2" and operation == "SendEmail":
            sender = self.settings["SENDER_EMAIL"]
            assert params["FromEmailAddress"] == self.config.sender_email
            context = {"ses:FromAddress": sender}
            return [("ses:SendEmail", f"arn:aws:ses:eu-west-3:{ACCOUNT}:identity/{sender.rpartition('@')[2]}", context),
                    ("ses:SendEmail", f"arn:aws:ses:eu-west-3:{ACCOUNT}:configuration-set/adhesions-{STAGE}", context)]
        if service == "ssm" and operation == "GetParameter":
            name = params["Name"].replace(f"/adhesions/{self.config.stage}/", f"/adhesions/{STAGE}/")
            arn = f"arn:aws:ssm:eu-west-3:{ACCOUNT}:parameter{name}"
            found = [("ssm:GetParameter", arn, {})]
            if params.get("WithDecryption"):  # SSM decrypts with the caller's rights, through itself
                found.append(("kms:Decrypt", f"arn:aws:kms:eu-west-3:{ACCOUNT}:key/aws-ssm-managed-key",
                              {"kms:ViaService": "ssm.eu-west-3.amazonaws.com",
                               "kms:EncryptionContext:PARAMETER_ARN": arn}))
            return found
        if service == "sqs":
            action = {"SendMessageBatch": "SendMessage"}.get(operation, operation)
            return [(f"sqs:{action}", self.queue_arn(params.get("QueueUrl") or params["QueueName"]), {})]
        raise AssertionError(f"infra does not know {service}:{operation} yet: grant it in infra/build.py")

    def resolve(self, value):
        """Policy values with the stack's intrinsic functions worked out (SES sandbox off)."""
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if "Fn::GetAtt" in value:
            return self._arn_of(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            for pseudo, real in (("${AWS::Partition}", "aws"), ("${AWS::Region}", "eu-west-3"),
                                 ("${AWS::AccountId}", ACCOUNT)):
                text = text.replace(pseudo, real)
            while "${" in text:
                start = text.index("${")
                end = text.index("}", start)
                logical = text[start + 2:end].removesuffix(".Arn")
                text = text[:start] + self._arn_of(logical) + text[end + 1:]
            return text
        if "Fn::If" in value:
            return self.resolve(value["Fn::If"][2])
        if value == {"Ref": "AWS::NoValue"}:
            return None
        return {k: self.resolve(v) for k, v in value.items()}

    def _arn_of(self, logical: str) -> str:
        resource = self.template["Resources"][logical]
        props = resource["Properties"]
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:eu-west-3:{ACCOUNT}:table/{props['TableName']}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{props['BucketName']}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:eu-west-3:{ACCOUNT}:{props['QueueName']}"
        raise AssertionError(f"no ARN for {kind}")


def _allowed(policy: dict, action: str, resource: str, context: dict) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        if all(_condition_holds(operator, values, context)
               for operator, values in statement.get("Condition", {}).items()):
            return True
    return False


def _condition_holds(operator: str, values: dict, context: dict) -> bool:
    for key, expected in values.items():
        expected = expected if isinstance(expected, list) else [expected]
        if key not in context:
            return False
        if operator == "StringEquals" and context[key] not in expected:
            return False
        if operator == "StringLike" and not any(fnmatch.fnmatchcase(context[key], e) for e in expected):
            return False
    return True


def _unreachable(*args, **kwargs):
    raise ConnectionError("S3 unreachable")


def test_what_each_function_does_on_aws_is_allowed_by_its_own_policy(generated, rt, demo, clock, chorus):
    from chalice.test import Client

    from app import app
    from tests.functional.conftest import Browser

    template, policies = generated
    stage = StageNames(template)
    resolved = {name: stage.resolve(policy) for name, policy in policies.items()}
    calls = AwsCalls()
    downloads = []  # presigned links: signed by the function, used by the browser
    rt.sleep = lambda seconds: clock.advance(seconds=seconds)
    # The CSRF key comes from its SecureString parameter, as deployed (read on first use)
    from chalicelib import config as config_module

    secret_parameter = f"/adhesions/{rt.config.stage}/csrf-secret"
    boto3.client("ssm", region_name=rt.config.region).put_parameter(
        Name=secret_parameter, Type="SecureString", Value="csrf-key-of-the-policy-test")
    rt.config = replace(rt.config, csrf_key=b"", csrf_secret_parameter=secret_parameter, tasks_inline=False)
    config_module._secure_parameter.cache_clear()

    def as_function(name: str):
        rt.forget_cached_settings()  # each function is its own process in Lambda
        return calls.running(name)

    with Client(app, stage_name="local") as client, calls.installed():
        # Given the pages a member, a visitor and staff use
        with as_function("api_handler"):
            member = Browser(client)
            member.login("m.lefevre@montclair.example")
            for path in ("/", "/mon-compte", "/mon-compte/adhesions"):
                member.get(path)
            # « Éditer un devis »: the PDF is stored, then handed out through a presigned link
            quote = member.post("/mon-compte/devis", {})
            assert quote.status_code in (302, 303), quote.status_code
            link = member.get(quote.headers["Location"]).headers["Location"]
            downloads.append(urlsplit(link))
            visitor = Browser(client)
            visitor.get("/mot-de-passe-oublie")
            visitor.post("/mot-de-passe-oublie", {"email": "s.garnier@montclair.example"})
            staff = Browser(client)
            staff.login("equipe@cite-verte.example")
            staff.get("/admin")
            # a renewal whose automatic invoice fails (S3 unreachable): the catch-up job issues it
            durand, real_put = Browser(client), rt.storage.put
            rt.storage.put = _unreachable
            try:
                durand.login("n.durand@paysages-durand.example")
                durand.get("/mon-compte/adhesions/renouveler")
                durand.post("/mon-compte/adhesions/renouveler", {
                    "tier_choice": "confirm", "payment_method": "virement", "wait_for_purchase_order": "no",
                    "address_line1": "ZA des Grands Champs, 8 rue des Artisans", "postcode": "35000",
                    "city": "Rennes", "siret": "48312345600027", "invoice_email": "compta@paysages-durand.example"})
            finally:
                rt.storage.put = real_put
        assert rt.renewals.latest("org-durand", 2026).state.value == "ready_to_invoice"
        catch_up = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                   detail={}, resources=[])
        with as_function("issue_pending_invoices"):
            assert client.lambda_.invoke("issue_pending_invoices", catch_up).payload["invoiced"] == 1
        # and the scheduled functions on the campaign's opening day, with its queued chunks
        clock.now = datetime(2026, 12, 1, 5, 0, tzinfo=timezone.utc)
        schedule = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                   detail={}, resources=[])
        with as_function("run_campaign_schedule"):
            client.lambda_.invoke("run_campaign_schedule", schedule)
        with as_function("api_handler"):  # a commune renews: its invoice (a task) goes to Chorus Pro (a task)
            from tests.functional.renewal_support import answers

            commune = Browser(client)
            commune.login("m.lefevre@montclair.example")
            commune.get("/mon-compte/adhesions/renouveler")
            saved = commune.post("/mon-compte/adhesions/renouveler",
                                 answers(wait_for_purchase_order="no", purchase_order_number="EJ-2027-1"))
            assert saved.status_code == 303, saved.status_code
        while received := rt.task_queue.receive(max_messages=1):  # « Mot de passe oublié »'s task
            event = client.events.generate_sqs_event([received[0].body], queue_name=rt.config.tasks_queue)
            with as_function("process_task"):
                client.lambda_.invoke("process_task", event)
            rt.task_queue.delete(received[0].receipt)
        while received := rt.campaign_queue.receive(max_messages=1):  # Lambda's event source mapping
            event = client.events.generate_sqs_event([received[0].body], queue_name=rt.config.campaign_queue)
            with as_function("process_campaign_chunk"):
                client.lambda_.invoke("process_campaign_chunk", event)
            rt.campaign_queue.delete(received[0].receipt)
        # the commune's services reject the invoice: the follow-up records it and alerts staff
        invoice_number = rt.renewals.latest("org-montclair", 2027).invoice_number
        assert rt.chorus_deposits.get(invoice_number).flux
        chorus.move(invoice_number, "REJETEE", "Service fait impossible à constater")
        with as_function("follow_chorus_pro"):
            assert client.lambda_.invoke("follow_chorus_pro", schedule).payload["moved"] == 1
        clock.advance(hours=1)
        with as_function("retry_pending_emails"):
            client.lambda_.invoke("retry_pending_emails", schedule)
    config_module._secure_parameter.cache_clear()
    # Then every request each function made is allowed by that function's policy
    assert {c[0] for c in calls.calls} >= {"api_handler", "run_campaign_schedule", "process_campaign_chunk",
                                           "issue_pending_invoices", "process_task", "follow_chorus_pro"}
    assert {(c[0], c[2]) for c in calls.calls if c[1] == "ssm"} == {("api_handler", "GetParameter")}
    needs = [(function, need) for function, service, operation, params in calls.calls
             for need in stage.needs(service, operation, params)]
    assert downloads
    for link in downloads:
        key = link.path.lstrip("/").split("/", 1)[1] if link.hostname.startswith("s3") else link.path.lstrip("/")
        needs.append(("api_handler", ("s3:GetObject", stage.bucket_arn(key), {})))
    refused = sorted({(function, action, resource) for function, (action, resource, context) in needs
                      if not _allowed(resolved[function], action, resource, context)})
    assert refused == [], "grant these in infra/access.py"
