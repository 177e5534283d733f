"""Generates the CloudFormation resources beside Chalice's functions, from the code.

    python -m infra.build --stage prod --out out/prod/infra.json --policies out/prod/policies

Nothing here is a hand-copied list:

- DynamoDB tables come from the pynamodb models (``schema.ALL_TABLES``): keys, attribute
  types, indexes with their projections, the TTL attribute;
- Lambda functions and the queues they consume come from ``app.py``'s Chalice app;
- names (tables, bucket, sender, base URL) come from the stage in ``.chalice/config.json``,
  which is also what the functions receive as environment variables;
- what each function may touch comes from ``infra/access.py``.

The output is the template given to ``chalice package --merge-template`` (see
``infra/package.py``): new resources, plus properties merged into Chalice's own resources
(function names, runtime, layer, secrets, gateway responses). The per-function IAM policy
documents are written as the ``iam_policy_file`` each function names in ``config.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from chalice.utils import to_cfn_resource_name

from infra.access import EVERY_TABLE, FUNCTIONS, Access

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "python3.12"  # Amazon Linux 2023: the WeasyPrint layer is built for it (infra/layer)
ARCHITECTURE = "x86_64"
API_STAGE_THROTTLE = {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100}
PRESIGNED_URL_MAX_AGE_MS = 10 * 60 * 1000
LAYER_FONTCONFIG = "/opt/fonts"  # fonts.conf and fonts inside the WeasyPrint layer
# Secrets are SSM SecureString parameters ``/<app>/<stage>/<parameter>``, never in config.json:
# each function gets ``<VARIABLE>_PARAMETER`` (the parameter's name) and reads the value at run
# time (chalicelib/config.py); infra/access.py says which functions may read which.
SECRETS = {"CSRF_SECRET": "csrf-secret", "CHORUS_PRO_CREDENTIALS": "chorus-pro-credentials"}
# What the outbox logs when SES refuses or fails a message (chalicelib/services/mail.py).
EMAIL_FAILURE_PATTERN = '"not sent"'
# What services/chorus.py logs when a deposit fails and when the platform rejects or suspends one.
CHORUS_LOG_METRICS = {"ChorusDepositFailures": '"chorus deposit failed"',
                      "ChorusRejections": '"chorus rejected or suspended"'}
DYNAMO_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
               "dynamodb:ConditionCheckItem"]
DYNAMO_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
SQS_CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
SQS_PRODUCE = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]


class BuildError(Exception):
    """The code, config.json and infra/access.py disagree: the message says what to fix."""


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)


def function_logical_id(name: str) -> str:
    """Chalice's logical id for a function (``api_handler`` is renamed ``APIHandler``)."""
    return "APIHandler" if name == "api_handler" else to_cfn_resource_name(name)


# --- what the code declares -------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    name: str  # without the stage prefix, e.g. "outbox"
    physical: str
    schema: dict
    ttl_attribute: str | None

    @property
    def logical_id(self) -> str:
        return camel(self.name) + "Table"

    @property
    def index_names(self) -> list[str]:
        return [i["index_name"] for i in self.schema["global_secondary_indexes"] + self.schema["local_secondary_indexes"]]


@dataclass(frozen=True)
class Function:
    name: str
    queue: str | None = None  # the queue it consumes, if an SQS event source
    timeout: int = 60

    @property
    def logical_id(self) -> str:
        return function_logical_id(self.name)

    @property
    def role_logical_id(self) -> str:
        return to_cfn_resource_name(f"{self.name}_role")  # as Chalice names it

    @property
    def log_group_logical_id(self) -> str:
        return to_cfn_resource_name(f"{self.name}-log-group")


@dataclass(frozen=True)
class Queue:
    key: str  # e.g. "campaign"
    physical: str

    @property
    def logical_id(self) -> str:
        return camel(self.key) + "Queue"

    @property
    def dead_letter_logical_id(self) -> str:
        return camel(self.key) + "DeadLetterQueue"


@dataclass
class Stage:
    """One stage of ``.chalice/config.json``, read with Chalice's own lookup rules."""

    name: str
    app_name: str
    env: dict
    chalice_config: object = field(repr=False)

    @property
    def prefix(self) -> str:
        return f"{self.app_name}-{self.name}-"

    @property
    def table_prefix(self) -> str:
        return self.env.get("TABLE_PREFIX", self.prefix)

    @property
    def bucket(self) -> str:
        return self.env.get("DOCUMENTS_BUCKET", f"{self.prefix}documents")

    @property
    def sender_email(self) -> str:
        return self.env.get("SENDER_EMAIL", "")

    @property
    def sender_domain(self) -> str:
        return self.sender_email.rpartition("@")[2]

    @property
    def base_url(self) -> str:
        return self.env.get("BASE_URL", "").rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def configuration_set(self) -> str:
        return f"{self.app_name}-{self.name}"

    def function_config(self, function_name: str):
        return self.chalice_config.scope(chalice_stage=self.name, function_name=function_name)


def load_stage(stage: str, project_dir: Path = ROOT) -> Stage:
    from chalice.config import Config

    config_path = project_dir / ".chalice" / "config.json"
    on_disk = json.loads(config_path.read_text())
    if stage not in on_disk.get("stages", {}):
        raise BuildError(f"no stage {stage!r} in .chalice/config.json")
    config = Config(chalice_stage=stage, config_from_disk=on_disk,
                    user_provided_params={"project_dir": str(project_dir)})
    env = dict(config.environment_variables)
    for variable in SECRETS:
        for name in (variable, secret_variable(variable)):
            if name in env:
                raise BuildError(f"{name}: remove it from .chalice/config.json (the secret is an SSM "
                                 f"parameter the build names)")
    return Stage(stage, on_disk["app_name"], env, config)


def secret_variable(name: str) -> str:
    """The environment variable naming the SSM parameter that holds the secret ``name``."""
    return f"{name}_PARAMETER"


def secret_parameter(stage: Stage, parameter: str) -> str:
    return f"/{stage.app_name}/{stage.name}/{parameter}"


def stage_environment(stage: Stage) -> dict:
    """The environment the app is imported with to read its functions and queues.

    Packaging needs no secret; a placeholder satisfies the config's check and goes nowhere.
    """
    return {**stage.env, **{name: "packaging-placeholder" for name in SECRETS}}


def tables_from_models(models, stage: Stage) -> list[Table]:
    from pynamodb.attributes import TTLAttribute

    from chalicelib.config import get_config

    imported_prefix = get_config().table_prefix
    found = []
    for model in models:
        name = model.Meta.table_name.removeprefix(imported_prefix)
        ttl = next((a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)), None)
        found.append(Table(name, stage.table_prefix + name, model._get_schema(), ttl))
    return found


def functions_from_app(app, stage: Stage) -> list[Function]:
    from chalice.app import ScheduledEventConfig, SQSEventConfig

    names: list[tuple[str, str | None]] = []
    if app.routes:
        names.append(("api_handler", None))
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            if source.queue_arn:
                raise BuildError(f"{source.name}: declare the queue by name, infra creates it")
            names.append((source.name, source.queue))
        elif isinstance(source, ScheduledEventConfig):
            names.append((source.name, None))
        else:
            raise BuildError(f"{source.name}: {type(source).__name__} is not handled by infra/build.py yet")
    names += [(f.name, None) for f in app.pure_lambda_functions]
    if app.websocket_handlers:
        raise BuildError("websocket handlers are not handled by infra/build.py yet")
    functions = []
    for name, queue in names:
        functions.append(Function(name, queue, int(stage.function_config(name).lambda_timeout or 60)))
    return functions


def queues_for(functions: list[Function], stage: Stage) -> list[Queue]:
    """Queues consumed by a function or sent to by one (infra/access.py)."""
    keys: dict[str, str] = {}
    for f in functions:
        if f.queue:
            if not f.queue.startswith(stage.prefix):
                raise BuildError(f"queue {f.queue!r} must be named {stage.prefix}<name> in stage {stage.name}")
            keys[f.queue.removeprefix(stage.prefix)] = f.queue
    for f in functions:
        for key in FUNCTIONS.get(f.name, Access()).send_to_queues:
            keys.setdefault(key, stage.prefix + key)
    return [Queue(k, v) for k, v in sorted(keys.items())]


# --- resources ---------------------------------------------------------------------------
def _tags(stage: Stage) -> list[dict]:
    return [{"Key": "app", "Value": stage.app_name}, {"Key": "stage", "Value": stage.name}]


def _key_schema(keys: list[dict]) -> list[dict]:
    """CloudFormation wants the hash key first."""
    ordered = sorted(keys, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def _projection(projection: dict) -> dict:
    out = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        out["NonKeyAttributes"] = list(projection["NonKeyAttributes"])
    return out


def table_resource(table: Table, stage: Stage) -> dict:
    schema = table.schema
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    for index in schema["global_secondary_indexes"] + schema["local_secondary_indexes"]:
        for d in index.get("attribute_definitions", []):
            definitions[d["AttributeName"]] = d["AttributeType"]
    props: dict = {
        "TableName": table.physical,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "DeletionProtectionEnabled": True,
        "SSESpecification": {"SSEEnabled": False},  # AWS-owned key: encrypted at rest, no KMS charge
        "Tags": _tags(stage),
    }
    gsis = [{"IndexName": i["index_name"], "KeySchema": _key_schema(i["key_schema"]),
             "Projection": _projection(i["projection"])} for i in schema["global_secondary_indexes"]]
    lsis = [{"IndexName": i["index_name"], "KeySchema": _key_schema(i["key_schema"]),
             "Projection": _projection(i["projection"])} for i in schema["local_secondary_indexes"]]
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    if lsis:
        props["LocalSecondaryIndexes"] = lsis
    if table.ttl_attribute:
        props["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": props}


def bucket_resources(stage: Stage) -> dict:
    bucket_arn = {"Fn::GetAtt": ["DocumentsBucket", "Arn"]}
    objects_arn = {"Fn::Sub": "${DocumentsBucket.Arn}/*"}
    return {
        "DocumentsBucket": {
            "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": stage.bucket,
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True, "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True},
                ]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [
                    # Issued documents are never overwritten: an old version exists only after a
                    # mistake or a deletion, and stays a year to be restored.
                    {"Id": "keep-old-versions-one-year", "Status": "Enabled",
                     "NoncurrentVersionExpiration": {"NoncurrentDays": 365}},
                    {"Id": "abort-incomplete-uploads", "Status": "Enabled",
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
                ]},
                "Tags": _tags(stage),
            },
        },
        "DocumentsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "DocumentsBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                     "Resource": [bucket_arn, objects_arn],
                     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                    # Presigned links are made valid 5 minutes; none is honoured after 10,
                    # whatever expiry a caller asked for.
                    {"Sid": "NoOldSignatures", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                     "Resource": objects_arn,
                     "Condition": {"NumericGreaterThan": {"s3:signatureAge": str(PRESIGNED_URL_MAX_AGE_MS)}}},
                ]},
            },
        },
    }


def ses_resources(stage: Stage) -> dict:
    if not stage.sender_domain:
        raise BuildError(f"SENDER_EMAIL is missing in stage {stage.name}")
    return {
        "EmailConfigurationSet": {
            "Type": "AWS::SES::ConfigurationSet",
            "Properties": {
                "Name": stage.configuration_set,
                "ReputationOptions": {"ReputationMetricsEnabled": True},
                "SendingOptions": {"SendingEnabled": True},
                "SuppressionOptions": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            },
        },
        "EmailEvents": {
            "Type": "AWS::SES::ConfigurationSetEventDestination",
            "Properties": {
                "ConfigurationSetName": {"Ref": "EmailConfigurationSet"},
                "EventDestination": {
                    "Name": "cloudwatch",
                    "Enabled": True,
                    "MatchingEventTypes": ["reject", "bounce", "complaint", "renderingFailure"],
                    "CloudWatchDestination": {"DimensionConfigurations": [{
                        "DimensionName": "stage", "DimensionValueSource": "messageTag",
                        "DefaultDimensionValue": stage.name,
                    }]},
                },
            },
        },
        # The domain identity signs with Easy DKIM; the custom MAIL FROM aligns SPF for DMARC.
        # Its configuration set is the default for every message sent from the domain.
        "EmailIdentity": {
            "Type": "AWS::SES::EmailIdentity",
            "Condition": "CreateEmailIdentity",
            "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "EmailIdentity": stage.sender_domain,
                "DkimSigningAttributes": {"NextSigningKeyLength": "RSA_2048_BIT"},
                "FeedbackAttributes": {"EmailForwardingEnabled": True},
                "ConfigurationSetAttributes": {"ConfigurationSetName": {"Ref": "EmailConfigurationSet"}},
                "MailFromAttributes": {"MailFromDomain": f"mail.{stage.sender_domain}",
                                       "BehaviorOnMxFailure": "USE_DEFAULT_VALUE"},
            },
        },
    }


def queue_resources(queues: list[Queue], functions: list[Function], stage: Stage) -> dict:
    resources: dict = {}
    for queue in queues:
        consumers = [f for f in functions if f.queue == queue.physical]
        # AWS's advice for an SQS event source: visibility at least six times the function's timeout.
        timeout = max([f.timeout for f in consumers], default=900)
        resources[queue.dead_letter_logical_id] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": f"{queue.physical}-dead-letters", "MessageRetentionPeriod": 14 * 86400,
                           "SqsManagedSseEnabled": True, "Tags": _tags(stage)},
        }
        resources[queue.logical_id] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue.physical,
                "VisibilityTimeout": min(6 * timeout, 43200),
                "MessageRetentionPeriod": 14 * 86400,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [queue.dead_letter_logical_id, "Arn"]},
                                  "maxReceiveCount": 5},
                "Tags": _tags(stage),
            },
        }
    return resources


# --- policies ----------------------------------------------------------------------------
def _arn(service: str, resource: str) -> dict:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def function_physical_name(stage: Stage, function: Function) -> str:
    return f"{stage.prefix}{function.name}"


def _table_arns(tables: list[Table]) -> list:
    arns: list = []
    for t in tables:
        arns.append({"Fn::GetAtt": [t.logical_id, "Arn"]})
        arns += [{"Fn::Sub": f"${{{t.logical_id}.Arn}}/index/{index}"} for index in t.index_names]
    return arns


def _select_tables(names: tuple[str, ...], tables: list[Table], function: str) -> list[Table]:
    if names == EVERY_TABLE:
        return list(tables)
    by_name = {t.name: t for t in tables}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise BuildError(f"infra/access.py: {function} names unknown table(s) {unknown}; the code has {sorted(by_name)}")
    return [by_name[n] for n in names]


def policy_document(function: Function, access: Access, stage: Stage, tables: list[Table],
                    queues: list[Queue]) -> dict:
    log_group = f"/aws/lambda/{function_physical_name(stage, function)}"
    statements: list[dict] = [{
        "Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": _arn("logs", f"log-group:{log_group}:*"),
    }]
    writable = _select_tables(access.tables, tables, function.name)
    readable = [t for t in _select_tables(access.read_tables, tables, function.name) if t not in writable]
    if writable:
        statements.append({"Sid": "TablesReadWrite", "Effect": "Allow", "Action": DYNAMO_READ + DYNAMO_WRITE,
                           "Resource": _table_arns(writable)})
    if readable:
        statements.append({"Sid": "TablesRead", "Effect": "Allow", "Action": DYNAMO_READ,
                           "Resource": _table_arns(readable)})

    def objects(prefixes: tuple[str, ...]) -> list:
        return [{"Fn::Sub": f"${{DocumentsBucket.Arn}}/{p}*"} for p in prefixes]

    if access.bucket_read:
        statements.append({"Sid": "DocumentsRead", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": objects(access.bucket_read)})
        # Without ListBucket a missing key answers 403 instead of 404.
        statements.append({"Sid": "DocumentsList", "Effect": "Allow", "Action": ["s3:ListBucket"],
                           "Resource": {"Fn::GetAtt": ["DocumentsBucket", "Arn"]},
                           "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in access.bucket_read]}}})
    if access.bucket_write:
        statements.append({"Sid": "DocumentsWrite", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
                           "Resource": objects(access.bucket_write)})
    if access.send_email:
        statements.append({
            "Sid": "SendEmail", "Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": [
                _arn("ses", f"identity/{stage.sender_domain}"),
                _arn("ses", f"configuration-set/{stage.configuration_set}"),
                # In the SES sandbox, recipients are identities too.
                {"Fn::If": ["InSesSandbox", _arn("ses", "identity/*"), {"Ref": "AWS::NoValue"}]},
            ],
            "Condition": {"StringEquals": {"ses:FromAddress": stage.sender_email}},
        })
    by_key = {q.key: q for q in queues}
    consumed = [q for q in queues if q.physical == function.queue]
    if consumed:
        statements.append({"Sid": "ConsumeQueue", "Effect": "Allow", "Action": SQS_CONSUME,
                           "Resource": [{"Fn::GetAtt": [q.logical_id, "Arn"]} for q in consumed]})
    if access.send_to_queues:
        statements.append({"Sid": "SendToQueues", "Effect": "Allow", "Action": SQS_PRODUCE,
                           "Resource": [{"Fn::GetAtt": [by_key[k].logical_id, "Arn"]} for k in access.send_to_queues]})
    if access.read_secrets:
        unknown = sorted(set(access.read_secrets) - set(SECRETS.values()))
        if unknown:
            raise BuildError(f"infra/access.py: {function.name} reads unknown secret(s) {unknown}; "
                             f"infra/build.py SECRETS has {sorted(SECRETS.values())}")
        parameters = [_arn("ssm", f"parameter{secret_parameter(stage, p)}") for p in access.read_secrets]
        statements.append({"Sid": "ReadSecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"],
                           "Resource": parameters})
        # SecureString values are decrypted by SSM with the account's AWS-managed key aws/ssm
        # (its id is unknown here): only through SSM, and only for these parameters.
        statements.append({
            "Sid": "DecryptSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"],
            "Resource": _arn("kms", "key/*"),
            "Condition": {"StringEquals": {
                "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
                "kms:EncryptionContext:PARAMETER_ARN": parameters,
            }},
        })
    return {"Version": "2012-10-17", "Statement": statements}


# --- Chalice's resources: what is merged into them ---------------------------------------
def function_overrides(functions: list[Function], queues: list[Queue], stage: Stage) -> dict:
    # Every function names the secrets' parameters (the config checks they are set); only those
    # granted in infra/access.py may read them.
    secrets = {secret_variable(name): secret_parameter(stage, param) for name, param in SECRETS.items()}
    by_physical = {q.physical: q for q in queues}
    overrides: dict = {}
    for f in functions:
        entry: dict = {"Properties": {
            "FunctionName": function_physical_name(stage, f),
            "Runtime": RUNTIME,
            "Layers": [{"Ref": "WeasyPrintLayerArn"}],
            "Environment": {"Variables": {**secrets, "FONTCONFIG_PATH": LAYER_FONTCONFIG}},
        }}
        if f.queue:
            # Chalice names the queue by ARN string: make the function (and its event source
            # mapping) wait for the queue.
            entry["DependsOn"] = [by_physical[f.queue].logical_id]
        overrides[f.logical_id] = entry
        # Chalice names the API handler's log group after "ApiHandler", a resource that does
        # not exist once it renamed the function "APIHandler": name every group plainly.
        overrides[f.log_group_logical_id] = {"Properties": {
            "LogGroupName": f"/aws/lambda/{function_physical_name(stage, f)}"}}
    return overrides


def _error_page(title: str, message: str, stage: Stage) -> str:
    # Mapping templates are Velocity: no "$" and no "#" in this text.
    home = f"{stage.base_url}/" if stage.base_url else "/"
    return ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title></head><body><main><h1>{title}</h1><p>{message}</p>"
            f"<p><a href=\"{home}\">Retour à l'accueil</a></p></main></body></html>")


GATEWAY_RESPONSES = {
    # API Gateway answers an unknown path or method with 403 "Missing Authentication Token".
    "MISSING_AUTHENTICATION_TOKEN": (404, "Page introuvable", "Cette page n'existe pas."),
    "REQUEST_TOO_LARGE": (413, "Requête trop volumineuse", "Le contenu envoyé est trop volumineux."),
    "THROTTLED": (429, "Trop de requêtes", "Trop de requêtes en peu de temps. Réessayez dans un instant."),
    "DEFAULT_4XX": (None, "Requête incorrecte", "La requête n'a pas pu être traitée."),
    "DEFAULT_5XX": (None, "Service indisponible",
                    "Le service est momentanément indisponible. Réessayez dans un instant."),
}


def gateway_responses(stage: Stage) -> dict:
    headers = {
        "Content-Type": "'text/html; charset=utf-8'",
        # Header values are quoted with ' and cannot contain one: "sandbox" needs no quotes.
        "Content-Security-Policy": "'sandbox'",
        "X-Content-Type-Options": "'nosniff'",
        "X-Frame-Options": "'DENY'",
        "Referrer-Policy": "'same-origin'",
        "Cache-Control": "'no-store'",
        "Strict-Transport-Security": "'max-age=63072000; includeSubDomains'",
    }
    responses = {}
    for kind, (status, title, message) in GATEWAY_RESPONSES.items():
        page = _error_page(title, message, stage)
        response = {
            "responseParameters": {f"gatewayresponse.header.{k}": v for k, v in headers.items()},
            "responseTemplates": {"application/json": page, "text/html": page},
        }
        if status:
            response["statusCode"] = status
        responses[kind] = response
    return responses


def api_overrides(stage: Stage) -> dict:
    """Merged into Chalice's ``RestAPI``: name, throttling, French gateway responses.

    The gateway responses go in the OpenAPI body so that they are part of the deployment
    SAM creates; separate ``AWS::ApiGateway::GatewayResponse`` resources would only take
    effect at the next deployment of the API.
    """
    return {"RestAPI": {"Properties": {
        "Name": f"{stage.app_name}-{stage.name}",
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", **API_STAGE_THROTTLE}],
        "DefinitionBody": {"x-amazon-apigateway-gateway-responses": gateway_responses(stage)},
    }}}


def custom_domain_resources(stage: Stage) -> dict:
    """The app links to root-relative paths: it must be served at the root of BASE_URL's host."""
    return {
        "CustomDomain": {
            "Type": "AWS::ApiGateway::DomainName", "Condition": "HasCustomDomain",
            "Properties": {
                "DomainName": stage.host,
                "RegionalCertificateArn": {"Ref": "CertificateArn"},
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
            },
        },
        "CustomDomainMapping": {
            "Type": "AWS::ApiGateway::BasePathMapping", "Condition": "HasCustomDomain",
            "Properties": {"DomainName": {"Ref": "CustomDomain"}, "RestApiId": {"Ref": "RestAPI"},
                           "Stage": {"Ref": "RestAPI.Stage"}},
        },
    }


# --- monitoring --------------------------------------------------------------------------
def _alarm(name: str, description: str, **properties) -> dict:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description,
        "AlarmActions": [{"Ref": "AlarmTopic"}], "OKActions": [{"Ref": "AlarmTopic"}],
        "TreatMissingData": "notBreaching", "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", **properties,
    }}


def monitoring_resources(functions: list[Function], queues: list[Queue], stage: Stage) -> dict:
    """Alarms to one SNS topic: function errors and throttles, email failures, SES reputation, 5xx.

    DynamoDB throttling (rare on on-demand tables) reaches these alarms as function errors and
    5xx once the SDK's retries give up; a per-table alarm would cost more than the tables.
    """
    metrics_namespace = f"{camel(stage.app_name)}/{stage.name}"
    resources: dict = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": f"{stage.prefix}alarms", "KmsMasterKeyId": "alias/aws/sns", "Tags": _tags(stage)}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
            "TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}},
    }
    for f in functions:
        dims = [{"Name": "FunctionName", "Value": function_physical_name(stage, f)}]
        resources[f"{camel(f.name)}ErrorsAlarm"] = _alarm(
            f"{stage.prefix}{f.name}-errors", f"{f.name}: an invocation failed (see its logs)",
            Namespace="AWS/Lambda", MetricName="Errors", Dimensions=dims, Statistic="Sum", Period=300, Threshold=1)
        resources[f"{camel(f.name)}ThrottlesAlarm"] = _alarm(
            f"{stage.prefix}{f.name}-throttles", f"{f.name}: invocations throttled (account concurrency)",
            Namespace="AWS/Lambda", MetricName="Throttles", Dimensions=dims, Statistic="Sum", Period=300, Threshold=1)
        # Every function may send email through the outbox: count its failed attempts.
        resources[f"{camel(f.name)}EmailFailures"] = {"Type": "AWS::Logs::MetricFilter", "Properties": {
            "LogGroupName": {"Ref": f.log_group_logical_id},
            "FilterPattern": EMAIL_FAILURE_PATTERN,
            "MetricTransformations": [{"MetricNamespace": metrics_namespace, "MetricName": "EmailSendFailures",
                                       "MetricValue": "1", "Unit": "Count"}],
        }}
        for metric, pattern in CHORUS_LOG_METRICS.items():
            resources[f"{camel(f.name)}{metric}"] = {"Type": "AWS::Logs::MetricFilter", "Properties": {
                "LogGroupName": {"Ref": f.log_group_logical_id},
                "FilterPattern": pattern,
                "MetricTransformations": [{"MetricNamespace": metrics_namespace, "MetricName": metric,
                                           "MetricValue": "1", "Unit": "Count"}],
            }}
    # Chorus Pro: a deposit failing for an hour (the follow-up retries every 15 minutes), and
    # every rejection or suspension (staff also get an email with the reason).
    resources["ChorusDepositFailuresAlarm"] = _alarm(
        f"{stage.prefix}chorus-deposit-failures", "Chorus Pro deposits failing for an hour: check PISTE and the "
        "credentials (runbook)", Namespace=metrics_namespace, MetricName="ChorusDepositFailures", Statistic="Sum",
        Period=3600, Threshold=4)
    resources["ChorusRejectionsAlarm"] = _alarm(
        f"{stage.prefix}chorus-rejections", "An invoice was rejected or suspended on Chorus Pro: see « Demandes », "
        "filter « action requise »", Namespace=metrics_namespace, MetricName="ChorusRejections", Statistic="Sum",
        Period=300, Threshold=1)
    resources["EmailFailuresAlarm"] = _alarm(
        f"{stage.prefix}email-failures", "An email could not be sent: the outbox retries it, check SES",
        Namespace=metrics_namespace, MetricName="EmailSendFailures", Statistic="Sum", Period=300, Threshold=1)
    resources["EmailBounceRateAlarm"] = _alarm(
        f"{stage.prefix}ses-bounce-rate", "SES bounce rate above 5% (SES reviews the account at 5%, may pause at 10%)",
        Namespace="AWS/SES", MetricName="Reputation.BounceRate", Statistic="Maximum", Period=3600, Threshold=0.05)
    resources["EmailComplaintRateAlarm"] = _alarm(
        f"{stage.prefix}ses-complaint-rate", "SES complaint rate above 0.1% (SES may pause sending at 0.5%)",
        Namespace="AWS/SES", MetricName="Reputation.ComplaintRate", Statistic="Maximum", Period=3600, Threshold=0.001)
    resources["ApiServerErrorsAlarm"] = _alarm(
        f"{stage.prefix}api-5xx", "API Gateway answered 5xx (function error, timeout or throttling)",
        Namespace="AWS/ApiGateway", MetricName="5XXError", Statistic="Sum", Period=300, Threshold=1,
        Dimensions=[{"Name": "ApiName", "Value": f"{stage.app_name}-{stage.name}"}, {"Name": "Stage", "Value": "api"}])
    for q in queues:
        resources[f"{camel(q.key)}DeadLettersAlarm"] = _alarm(
            f"{stage.prefix}{q.key}-dead-letters", f"Messages of {q.physical} failed five times",
            Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible", Statistic="Maximum", Period=300,
            Threshold=1, Dimensions=[{"Name": "QueueName", "Value": f"{q.physical}-dead-letters"}])
    return resources


# --- the whole template ------------------------------------------------------------------
PARAMETERS = {
    "WeasyPrintLayerArn": {
        "Type": "String",
        "Description": "Version ARN of the WeasyPrint native libraries layer (infra/layer/build.sh prints it)",
        "AllowedPattern": r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$",
    },
    "AlarmEmail": {"Type": "String", "Default": "", "Description": "Address that receives the alarms (empty: none)"},
    "CertificateArn": {"Type": "String", "Default": "",
                       "Description": "ACM certificate (same region) for BASE_URL's host; empty: no custom domain"},
    "CreateEmailIdentity": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                            "Description": "false when the sender's domain is already an SES identity of this "
                                           "account and region (e.g. created by another stage)"},
    "SesSandbox": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"],
                   "Description": "true while the SES account is in the sandbox (recipients are identities)"},
}
CONDITIONS = {
    "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
    "HasCustomDomain": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]},
    "CreateEmailIdentity": {"Fn::Equals": [{"Ref": "CreateEmailIdentity"}, "true"]},
    "InSesSandbox": {"Fn::Equals": [{"Ref": "SesSandbox"}, "true"]},
}


@dataclass
class Build:
    stage: Stage
    tables: list[Table]
    functions: list[Function]
    queues: list[Queue]
    standalone: dict  # resources that stand on their own (deployable without Chalice's)
    merged: dict  # properties merged into Chalice's resources, and what refers to them
    policies: dict  # function name -> IAM policy document
    outputs: dict

    @property
    def template(self) -> dict:
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"Adhésions en ligne ({self.stage.name}): Chalice functions and the resources they use",
            "Parameters": PARAMETERS,
            "Conditions": CONDITIONS,
            "Resources": {**self.standalone, **self.merged},
            "Outputs": self.outputs,
        }

    def policy_file(self, function: str) -> str:
        return f"policy-{function}.json"


def build(stage: Stage, app, models) -> Build:
    """Everything the stage's template needs, from the app, the models and ``access.py``."""
    tables = tables_from_models(models, stage)
    functions = functions_from_app(app, stage)
    missing = [f.name for f in functions if f.name not in FUNCTIONS]
    if missing:
        raise BuildError(f"infra/access.py: no grants for function(s) {missing}: say what they may touch")
    stale = sorted(set(FUNCTIONS) - {f.name for f in functions})
    if stale:
        raise BuildError(f"infra/access.py: grants for function(s) the app does not have: {stale}")
    for f in functions:
        config = stage.function_config(f.name)
        expected = f"policy-{f.name}.json"
        if config.iam_policy_file != expected:
            raise BuildError(f".chalice/config.json: lambda_functions.{f.name}.iam_policy_file must be {expected!r}")
        if config.lambda_architecture != ARCHITECTURE:
            raise BuildError(f".chalice/config.json: lambda_architecture must be {ARCHITECTURE} (the layer's)")
        if not config.log_retention_in_days:
            raise BuildError(f".chalice/config.json: set log_retention_in_days (function {f.name})")
    queues = queues_for(functions, stage)
    standalone = {t.logical_id: table_resource(t, stage) for t in tables}
    standalone.update(bucket_resources(stage))
    standalone.update(ses_resources(stage))
    standalone.update(queue_resources(queues, functions, stage))
    merged = function_overrides(functions, queues, stage)
    merged.update(api_overrides(stage))
    merged.update(custom_domain_resources(stage))
    merged.update(monitoring_resources(functions, queues, stage))
    policies = {f.name: policy_document(f, FUNCTIONS[f.name], stage, tables, queues) for f in functions}
    outputs = {
        "DocumentsBucketName": {"Value": {"Ref": "DocumentsBucket"}},
        "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        "CustomDomainTarget": {"Condition": "HasCustomDomain",
                               "Description": "CNAME (or alias) target for BASE_URL's host",
                               "Value": {"Fn::GetAtt": ["CustomDomain", "RegionalDomainName"]}},
    }
    for n in (1, 2, 3):
        outputs[f"DkimRecord{n}"] = {
            "Condition": "CreateEmailIdentity", "Description": f"DKIM CNAME {n}: name → value",
            "Value": {"Fn::Join": [" CNAME ", [{"Fn::GetAtt": ["EmailIdentity", f"DkimDNSTokenName{n}"]},
                                                {"Fn::GetAtt": ["EmailIdentity", f"DkimDNSTokenValue{n}"]}]]},
        }
    return Build(stage, tables, functions, queues, standalone, merged, policies, outputs)


def build_stage(stage_name: str, project_dir: Path = ROOT) -> Build:
    """Import the app as the stage would run it, then build (a fresh process: see ``main``)."""
    stage = load_stage(stage_name, project_dir)
    os.environ.update(stage_environment(stage))
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    from app import app  # imported only now: after the stage's environment is set
    from chalicelib.adapters.dynamo.schema import ALL_TABLES

    return build(stage, app, ALL_TABLES)


def write(result: Build, out: Path, policies_dir: Path | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.template, indent=2, ensure_ascii=False) + "\n")
    if policies_dir is not None:
        policies_dir.mkdir(parents=True, exist_ok=True)
        for name, document in result.policies.items():
            (policies_dir / result.policy_file(name)).write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the merge template of a stage")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", type=Path, required=True, help="merge template to write (JSON)")
    parser.add_argument("--policies", type=Path, help="folder for the per-function IAM policy files")
    args = parser.parse_args(argv)
    try:
        result = build_stage(args.stage)
    except BuildError as error:
        print(f"infra.build: {error}", file=sys.stderr)
        return 2
    write(result, args.out, args.policies)
    print(f"{args.out}: {len(result.tables)} tables, {len(result.functions)} functions, {len(result.queues)} queues")
    return 0


if __name__ == "__main__":
    sys.exit(main())
