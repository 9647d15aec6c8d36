#!/usr/bin/env python3
"""moto server for cutover's test environment, with a fuller Amazon MSK and a
Secrets Manager fix.

    moto_server.py [--host 127.0.0.1] [--port 15000] [--tag TEXT]

Stock moto (5.2.x) keeps MSK clusters CREATING forever, has no bootstrap
brokers, configurations or cluster operations, answers an unknown cluster ARN
with a 500, and writes creation times without a time zone (which the AWS SDK
for Rust refuses). UpdateSecretVersionStage moves the stage labels but leaves
GetSecretValue (no VersionId/VersionStage) on the old version, and S3's
conditional writes (If-None-Match, If-Match) check and write in two steps that
concurrent requests may interleave. This launcher patches those in place (monkeypatching moto.kafka and moto.secretsmanager,
adding URL routes) and then runs moto's own server. See env/README.md.

Environment:
  CUTOVER_MOTO_MSK_ACTIVE_AFTER  polls a cluster stays CREATING/UPDATING/DELETING (default 2)
  CUTOVER_TARGET_HOST            host in the bootstrap strings (default 127.0.0.1)
  CUTOVER_TARGET_PORT            PLAINTEXT port of the local target broker (default 29092)
  CUTOVER_TARGET_SCRAM_PORT      SASL_PLAINTEXT/SCRAM port (default 29094)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import string
import sys
import threading
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

_LOCK = threading.RLock()
_INSTALLED = False


def _active_after() -> int:
    return max(0, int(os.environ.get("CUTOVER_MOTO_MSK_ACTIVE_AFTER", "2")))


def _now() -> str:
    # RFC 3339 in UTC with a 'Z': the Rust SDK rejects timestamps without one.
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_cluster_version() -> str:
    # Real MSK versions look like "K3AEGXETSR30VB".
    return "K" + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))


def _bootstrap_strings() -> dict[str, str]:
    host = os.environ.get("CUTOVER_TARGET_HOST", "127.0.0.1")
    plain = f"{host}:{os.environ.get('CUTOVER_TARGET_PORT', '29092')}"
    scram = f"{host}:{os.environ.get('CUTOVER_TARGET_SCRAM_PORT', '29094')}"
    # There is no TLS and no IAM locally: the TLS and IAM strings name the
    # PLAINTEXT listener, the SCRAM strings the SASL_PLAINTEXT/SCRAM listener.
    return {
        "bootstrapBrokerString": plain,
        "bootstrapBrokerStringTls": plain,
        "bootstrapBrokerStringSaslIam": plain,
        "bootstrapBrokerStringSaslScram": scram,
    }


def install() -> None:
    """Apply every patch (idempotent). Must run before the server's first request."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _patch_kafka()
        _patch_secretsmanager()
        _patch_s3()
        _INSTALLED = True


# --------------------------------------------------------------------------- errors


def _error_classes():
    from moto.core.exceptions import JsonRESTError

    class MskError(JsonRESTError):
        """The real MSK error shape: x-amzn-ErrorType header, {"message", "invalidParameter"} body."""

        def __init__(self, error_type: str, status: int, message: str, invalid_parameter: str | None = None):
            super().__init__(error_type, message)
            self.code = status
            body: dict[str, Any] = {"message": message}
            if invalid_parameter:
                body["invalidParameter"] = invalid_parameter
            self.description = json.dumps(body)

        def as_response(self) -> tuple[int, dict[str, str], str]:
            return self.code, dict(self.get_headers()), self.description

    class NotFound(MskError):
        def __init__(self, message: str, invalid_parameter: str | None = None):
            super().__init__("NotFoundException", 404, message, invalid_parameter)

    class BadRequest(MskError):
        def __init__(self, message: str, invalid_parameter: str | None = None):
            super().__init__("BadRequestException", 400, message, invalid_parameter)

    class Conflict(MskError):
        def __init__(self, message: str, invalid_parameter: str | None = None):
            super().__init__("ConflictException", 409, message, invalid_parameter)

    class NotEmulated(MskError):
        def __init__(self, action: str):
            super().__init__(
                "NotImplementedException", 501, f"{action} is not emulated by cutover's moto server"
            )

    return MskError, NotFound, BadRequest, Conflict, NotEmulated


# --------------------------------------------------------------------------- MSK


def _patch_kafka() -> None:
    import moto.kafka.exceptions as kexc
    import moto.kafka.models as kmodels
    import moto.kafka.urls as kurls
    from moto.kafka.models import FakeKafkaCluster, KafkaBackend
    from moto.kafka.responses import KafkaResponse
    from moto.utilities.utils import get_partition

    MskError, NotFound, BadRequest, Conflict, NotEmulated = _error_classes()

    # Stock NotFoundException is a 400 with an XML-ish shape; make moto's own raises real 404s.
    kmodels.NotFoundException = NotFound
    kmodels.BadRequestException = BadRequest
    kexc.NotFoundException = NotFound
    kexc.BadRequestException = BadRequest

    # Routes moto does not have. Every request still goes to KafkaResponse.dispatch;
    # the operation is chosen from botocore's model (method + request URI).
    kurls.url_paths.update(
        {
            "{0}/v1/configurations$": KafkaResponse.dispatch,
            "{0}/v1/configurations/(?P<arn>.+)$": KafkaResponse.dispatch,
            "{0}/v1/operations/(?P<clusterOperationArn>.+)$": KafkaResponse.dispatch,
            "{0}/api/v2/operations/(?P<clusterOperationArn>.+)$": KafkaResponse.dispatch,
            "{0}/v1/kafka-versions$": KafkaResponse.dispatch,
        }
    )

    # ---- cluster model: real-looking ARN (cluster/NAME/UUID), Z timestamps, poll state
    orig_cluster_init = FakeKafkaCluster.__init__

    def cluster_init(self, *args, **kwargs):
        orig_cluster_init(self, *args, **kwargs)
        self.creation_time = _now()
        self.current_version = _new_cluster_version()
        self.pending = {"kind": "create", "left": _active_after(), "op": None} if self.state == "CREATING" else None
        self.active_operation = None

    def generate_arn(self) -> str:
        kind = "cluster" if self.cluster_type == "PROVISIONED" else "serverless-cluster"
        partition = get_partition(self.region_name)
        return f"arn:{partition}:kafka:{self.region_name}:{self.account_id}:{kind}/{self.cluster_name}/{self.cluster_id}"

    FakeKafkaCluster.__init__ = cluster_init
    FakeKafkaCluster._generate_arn = generate_arn

    # ---- backend helpers and state
    def configurations(self) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_cutover_configurations"):
            self._cutover_configurations = {}
        return self._cutover_configurations

    def operations(self) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_cutover_operations"):
            self._cutover_operations = {}
        return self._cutover_operations

    def get_cluster(self, arn: str):
        cluster = self.clusters.get(arn)
        if cluster is None:
            raise NotFound(f"The cluster {arn} does not exist.", "clusterArn")
        return cluster

    def get_configuration(self, arn: str, param: str = "arn") -> dict[str, Any]:
        conf = self.cutover_configurations().get(arn)
        if conf is None:
            raise NotFound(f"The configuration {arn} does not exist.", param)
        return conf

    def check_configuration_info(self, info: dict[str, Any] | None) -> None:
        if not info:
            return
        conf = self.cutover_get_configuration(info.get("arn", ""), "configurationInfo.arn")
        revision = int(info.get("revision", 0))
        if revision not in {r["revision"] for r in conf["revisions"]}:
            raise NotFound(
                f"Revision {revision} of configuration {conf['arn']} does not exist.",
                "configurationInfo.revision",
            )

    def poll(self, cluster) -> None:
        """One DescribeCluster(V2)/DescribeClusterOperation(V2): advance the cluster's state."""
        with _LOCK:
            pending = cluster.pending
            if not pending:
                return
            if pending["left"] > 0:
                pending["left"] -= 1
                return
            cluster.pending = None
            if pending["kind"] == "delete":
                self.clusters.pop(cluster.arn, None)
            else:
                cluster.state = "ACTIVE"
            if pending["op"]:
                op = self.cutover_operations().get(pending["op"])
                if op is not None:
                    op["operationState"] = "UPDATE_COMPLETE"
                    op["endTime"] = _now()
                    for step in op["operationSteps"]:
                        step["stepInfo"]["stepStatus"] = "COMPLETE"
            cluster.active_operation = None

    def mutable_info(cluster) -> dict[str, Any]:
        bngi = cluster.broker_node_group_info or {}
        volume = ((bngi.get("storageInfo") or {}).get("ebsStorageInfo") or {}).get("volumeSize")
        info: dict[str, Any] = {
            "numberOfBrokerNodes": cluster.number_of_broker_nodes,
            "kafkaVersion": cluster.kafka_version,
            "instanceType": bngi.get("instanceType"),
            "configurationInfo": cluster.configuration_info,
            "enhancedMonitoring": cluster.enhanced_monitoring,
            "openMonitoring": cluster.open_monitoring,
            "loggingInfo": cluster.logging_info,
            "clientAuthentication": cluster.client_authentication,
            "encryptionInfo": cluster.encryption_info,
            "storageMode": cluster.storage_mode,
        }
        if volume is not None:
            info["brokerEBSVolumeInfo"] = [{"kafkaBrokerNodeId": "All", "volumeSizeGB": volume}]
        return {k: v for k, v in info.items() if v is not None}

    def start_update(self, arn: str, current_version: str | None, op_type: str, mutate) -> dict[str, str]:
        with _LOCK:
            cluster = self.cutover_get_cluster(arn)
            if not current_version:
                raise BadRequest("currentVersion is required.", "currentVersion")
            if current_version != cluster.current_version:
                raise BadRequest(
                    f"The cluster's current version {cluster.current_version} does not match "
                    f"the version you specified ({current_version}).",
                    "currentVersion",
                )
            if cluster.state != "ACTIVE":
                raise BadRequest(
                    f"The cluster is in {cluster.state} state; this operation needs ACTIVE.", "clusterArn"
                )
            source = json.loads(json.dumps(mutable_info(cluster)))
            op_type = mutate(cluster) or op_type
            target = json.loads(json.dumps(mutable_info(cluster)))
            cluster.current_version = _new_cluster_version()
            partition = get_partition(cluster.region_name)
            op_arn = (
                f"arn:{partition}:kafka:{cluster.region_name}:{cluster.account_id}:"
                f"cluster-operation/{cluster.cluster_name}/{cluster.cluster_id}/{uuid.uuid4()}"
            )
            self.cutover_operations()[op_arn] = {
                "clusterArn": cluster.arn,
                "clusterType": cluster.cluster_type,
                "creationTime": _now(),
                "operationArn": op_arn,
                "operationState": "UPDATE_IN_PROGRESS",
                "operationType": op_type,
                "sourceClusterInfo": source,
                "targetClusterInfo": target,
                "operationSteps": [
                    {"stepName": "INITIALIZE_UPDATE", "stepInfo": {"stepStatus": "COMPLETE"}},
                    {"stepName": "UPDATE_APPLY", "stepInfo": {"stepStatus": "IN_PROGRESS"}},
                    {"stepName": "FINALIZE_UPDATE", "stepInfo": {"stepStatus": "PENDING"}},
                ],
            }
            cluster.state = "UPDATING"
            cluster.active_operation = op_arn
            cluster.pending = {"kind": "update", "left": _active_after(), "op": op_arn}
            return {"clusterArn": cluster.arn, "clusterOperationArn": op_arn}

    KafkaBackend.cutover_configurations = configurations
    KafkaBackend.cutover_operations = operations
    KafkaBackend.cutover_get_cluster = get_cluster
    KafkaBackend.cutover_get_configuration = get_configuration
    KafkaBackend.cutover_check_configuration_info = check_configuration_info
    KafkaBackend.cutover_poll = poll
    KafkaBackend.cutover_start_update = start_update

    # ---- create: keep what CreateClusterV2 drops, validate configuration references
    orig_create_v2 = KafkaBackend.create_cluster_v2

    def create_cluster_v2(self, cluster_name, tags, provisioned, serverless):
        if provisioned:
            self.cutover_check_configuration_info(provisioned.get("configurationInfo"))
        result = orig_create_v2(self, cluster_name, tags, provisioned, serverless)
        if provisioned:
            cluster = self.clusters[result[0]]
            cluster.client_authentication = provisioned.get("clientAuthentication")
            cluster.configuration_info = provisioned.get("configurationInfo")
            cluster.encryption_info = provisioned.get("encryptionInfo")
            cluster.enhanced_monitoring = provisioned.get("enhancedMonitoring") or "DEFAULT"
            cluster.open_monitoring = provisioned.get("openMonitoring")
            cluster.logging_info = provisioned.get("loggingInfo")
        return result

    orig_create = KafkaBackend.create_cluster

    def create_cluster(self, *args, **kwargs):
        self.cutover_check_configuration_info(kwargs.get("configuration_info"))
        if not kwargs.get("enhanced_monitoring"):
            kwargs["enhanced_monitoring"] = "DEFAULT"
        if not kwargs.get("storage_mode"):
            kwargs["storage_mode"] = "LOCAL"
        return orig_create(self, *args, **kwargs)

    KafkaBackend.create_cluster_v2 = create_cluster_v2
    KafkaBackend.create_cluster = create_cluster

    # ---- describe output: real active operation, no placeholder values
    def fix_info(cluster, info: dict[str, Any]) -> dict[str, Any]:
        if cluster.active_operation:
            info["activeOperationArn"] = cluster.active_operation
        else:
            info.pop("activeOperationArn", None)
        info.pop("stateInfo", None)
        for holder in (info, info.get("provisioned") or {}):
            sw = holder.get("currentBrokerSoftwareInfo")
            if sw is not None and not cluster.configuration_info:
                sw.pop("configurationArn", None)
                sw.pop("configurationRevision", None)
            for key in ("clientAuthentication", "encryptionInfo", "openMonitoring", "loggingInfo"):
                if key in holder and not holder[key]:
                    holder.pop(key)
        return info

    orig_describe = KafkaBackend.describe_cluster
    orig_describe_v2 = KafkaBackend.describe_cluster_v2

    def describe_cluster(self, cluster_arn):
        cluster = self.cutover_get_cluster(cluster_arn)
        return fix_info(cluster, orig_describe(self, cluster_arn))

    def describe_cluster_v2(self, cluster_arn):
        cluster = self.cutover_get_cluster(cluster_arn)
        return fix_info(cluster, orig_describe_v2(self, cluster_arn))

    def delete_cluster(self, cluster_arn, current_version):
        with _LOCK:
            cluster = self.cutover_get_cluster(cluster_arn)
            if current_version and current_version != cluster.current_version:
                raise BadRequest(
                    f"The cluster's current version {cluster.current_version} does not match "
                    f"the version you specified ({current_version}).",
                    "currentVersion",
                )
            if cluster.state != "DELETING":
                cluster.state = "DELETING"
                cluster.active_operation = None
                cluster.pending = {"kind": "delete", "left": _active_after(), "op": None}
            return cluster.arn, cluster.state

    KafkaBackend.describe_cluster = describe_cluster
    KafkaBackend.describe_cluster_v2 = describe_cluster_v2
    KafkaBackend.delete_cluster = delete_cluster

    # ---- responses
    def backend(resp) -> KafkaBackend:
        return resp.kafka_backend

    def uri_param(resp, name: str) -> str:
        value = resp.uri_match.get(name)
        if value is None:
            raise BadRequest(f"{name} is required.", name)
        return unquote(value)

    def body(resp) -> dict[str, Any]:
        if not resp.body:
            return {}
        try:
            data = json.loads(resp.body)
        except ValueError:
            raise BadRequest("The request body is not valid JSON.")
        return data if isinstance(data, dict) else {}

    orig_call_action = KafkaResponse.call_action

    def call_action(self):
        """404 for an unknown cluster/configuration/operation ARN in the path, before any
        handler runs; 501 (not a 500 traceback) for an operation nobody emulates."""
        try:
            action = self._get_action()  # also fills self.uri_match
            be = self.kafka_backend
            if "clusterArn" in self.uri_match and action != "ListTagsForResource":
                be.cutover_get_cluster(unquote(self.uri_match["clusterArn"]))
            if "arn" in self.uri_match:
                be.cutover_get_configuration(unquote(self.uri_match["arn"]))
            if "clusterOperationArn" in self.uri_match:
                op_arn = unquote(self.uri_match["clusterOperationArn"])
                if op_arn not in be.cutover_operations():
                    raise NotFound(f"The cluster operation {op_arn} does not exist.", "clusterOperationArn")
            if not action:
                raise NotFound(f"No MSK operation at {self.path}.")
        except MskError as e:
            return e.as_response()
        try:
            return orig_call_action(self)
        except NotImplementedError:
            return NotEmulated(action).as_response()

    KafkaResponse.call_action = call_action

    orig_resp_describe = KafkaResponse.describe_cluster
    orig_resp_describe_v2 = KafkaResponse.describe_cluster_v2

    def polled(orig):
        def handler(self):
            be = backend(self)
            arn = uri_param(self, "clusterArn")
            be.cutover_poll(be.cutover_get_cluster(arn))
            be.cutover_get_cluster(arn)  # a finished delete is NotFound now
            return orig(self)

        return handler

    KafkaResponse.describe_cluster = polled(orig_resp_describe)
    KafkaResponse.describe_cluster_v2 = polled(orig_resp_describe_v2)

    def delete_cluster_response(self):
        arn = uri_param(self, "clusterArn")
        current_version = self._get_param("currentVersion")
        if isinstance(current_version, list):
            current_version = current_version[0]
        cluster_arn, state = backend(self).delete_cluster(arn, current_version)
        return json.dumps({"clusterArn": cluster_arn, "state": state})

    KafkaResponse.delete_cluster = delete_cluster_response

    def get_bootstrap_brokers(self):
        backend(self).cutover_get_cluster(uri_param(self, "clusterArn"))
        return json.dumps(_bootstrap_strings())

    KafkaResponse.get_bootstrap_brokers = get_bootstrap_brokers

    # cluster updates
    def update_handler(op_type: str, mutate_from_body):
        """mutate_from_body(backend, cluster, body) changes the cluster and may return
        a more precise operation type."""

        def handler(self):
            data = body(self)
            result = backend(self).cutover_start_update(
                uri_param(self, "clusterArn"),
                data.get("currentVersion"),
                op_type,
                lambda cluster: mutate_from_body(backend(self), cluster, data),
            )
            return json.dumps(result)

        return handler

    def m_configuration(be, cluster, data):
        info = data.get("configurationInfo")
        if not info:
            raise BadRequest("configurationInfo is required.", "configurationInfo")
        be.cutover_check_configuration_info(info)
        cluster.configuration_info = {"arn": info["arn"], "revision": int(info["revision"])}

    def m_broker_count(be, cluster, data):
        n = data.get("targetNumberOfBrokerNodes")
        if not isinstance(n, int) or n < 1:
            raise BadRequest("targetNumberOfBrokerNodes must be a positive integer.", "targetNumberOfBrokerNodes")
        before = cluster.number_of_broker_nodes or 0
        cluster.number_of_broker_nodes = n
        return "INCREASE_BROKER_COUNT" if n >= before else "DECREASE_BROKER_COUNT"

    def m_broker_storage(be, cluster, data):
        vols = data.get("targetBrokerEBSVolumeInfo") or []
        if not vols or "volumeSizeGB" not in vols[0]:
            raise BadRequest("targetBrokerEBSVolumeInfo is required.", "targetBrokerEBSVolumeInfo")
        bngi = cluster.broker_node_group_info = dict(cluster.broker_node_group_info or {})
        storage = bngi.setdefault("storageInfo", {})
        ebs = storage.setdefault("ebsStorageInfo", {})
        ebs["volumeSize"] = int(vols[0]["volumeSizeGB"])
        if vols[0].get("provisionedThroughput"):
            ebs["provisionedThroughput"] = vols[0]["provisionedThroughput"]

    def m_broker_type(be, cluster, data):
        t = data.get("targetInstanceType")
        if not t:
            raise BadRequest("targetInstanceType is required.", "targetInstanceType")
        cluster.broker_node_group_info = dict(cluster.broker_node_group_info or {})
        cluster.broker_node_group_info["instanceType"] = t

    def m_kafka_version(be, cluster, data):
        v = data.get("targetKafkaVersion")
        if not v:
            raise BadRequest("targetKafkaVersion is required.", "targetKafkaVersion")
        if data.get("configurationInfo"):
            be.cutover_check_configuration_info(data["configurationInfo"])
            cluster.configuration_info = {
                "arn": data["configurationInfo"]["arn"],
                "revision": int(data["configurationInfo"]["revision"]),
            }
        cluster.kafka_version = v

    def m_monitoring(be, cluster, data):
        if "enhancedMonitoring" in data:
            cluster.enhanced_monitoring = data["enhancedMonitoring"]
        if "openMonitoring" in data:
            cluster.open_monitoring = data["openMonitoring"]
        if "loggingInfo" in data:
            cluster.logging_info = data["loggingInfo"]

    def m_security(be, cluster, data):
        if not data.get("clientAuthentication") and not data.get("encryptionInfo"):
            raise BadRequest("clientAuthentication or encryptionInfo is required.", "clientAuthentication")
        if "clientAuthentication" in data:
            cluster.client_authentication = data["clientAuthentication"]
        if "encryptionInfo" in data:
            cluster.encryption_info = data["encryptionInfo"]

    KafkaResponse.update_cluster_configuration = update_handler("UPDATE_CLUSTER_CONFIGURATION", m_configuration)
    KafkaResponse.update_broker_count = update_handler("INCREASE_BROKER_COUNT", m_broker_count)
    KafkaResponse.update_broker_storage = update_handler("UPDATE_BROKER_STORAGE", m_broker_storage)
    KafkaResponse.update_broker_type = update_handler("UPDATE_BROKER_TYPE", m_broker_type)
    KafkaResponse.update_cluster_kafka_version = update_handler("UPDATE_CLUSTER_KAFKA_VERSION", m_kafka_version)
    KafkaResponse.update_monitoring = update_handler("UPDATE_MONITORING", m_monitoring)
    KafkaResponse.update_security = update_handler("UPDATE_SECURITY", m_security)

    # cluster operations
    def polled_operation(self) -> dict[str, Any]:
        be = backend(self)
        op_arn = uri_param(self, "clusterOperationArn")
        op = be.cutover_operations()[op_arn]
        cluster = be.clusters.get(op["clusterArn"])
        if cluster is not None and cluster.pending and cluster.pending.get("op") == op_arn:
            be.cutover_poll(cluster)
        return op

    def describe_cluster_operation(self):
        op = polled_operation(self)
        info = {k: v for k, v in op.items() if k != "clusterType"}
        return json.dumps({"clusterOperationInfo": info})

    def describe_cluster_operation_v2(self):
        op = polled_operation(self)
        info = {
            "clusterArn": op["clusterArn"],
            "clusterType": op["clusterType"],
            "startTime": op["creationTime"],
            "operationArn": op["operationArn"],
            "operationState": op["operationState"],
            "operationType": op["operationType"],
            "provisioned": {
                "operationSteps": op["operationSteps"],
                "sourceClusterInfo": op["sourceClusterInfo"],
                "targetClusterInfo": op["targetClusterInfo"],
            },
        }
        if "endTime" in op:
            info["endTime"] = op["endTime"]
        return json.dumps({"clusterOperationInfo": info})

    KafkaResponse.describe_cluster_operation = describe_cluster_operation
    KafkaResponse.describe_cluster_operation_v2 = describe_cluster_operation_v2

    # configurations
    def server_properties(data) -> bytes:
        raw = data.get("serverProperties")
        if raw is None:
            raise BadRequest("serverProperties is required.", "serverProperties")
        try:
            return base64.b64decode(raw, validate=True)
        except (ValueError, TypeError):
            raise BadRequest("serverProperties must be base64-encoded.", "serverProperties")

    def revision_summary(rev) -> dict[str, Any]:
        out = {"creationTime": rev["creationTime"], "revision": rev["revision"]}
        if rev.get("description") is not None:
            out["description"] = rev["description"]
        return out

    def configuration_summary(conf) -> dict[str, Any]:
        out = {
            "arn": conf["arn"],
            "creationTime": conf["creationTime"],
            "description": conf["description"],
            "kafkaVersions": conf["kafkaVersions"],
            "latestRevision": revision_summary(conf["revisions"][-1]),
            "name": conf["name"],
            "state": conf["state"],
        }
        return out

    def paginate(self, items: list[Any]) -> tuple[list[Any], str | None]:
        start = int(self._get_param("nextToken") or 0)
        limit = int(self._get_param("maxResults") or 100)
        page = items[start : start + limit]
        token = str(start + limit) if start + limit < len(items) else None
        return page, token

    def create_configuration(self):
        data = body(self)
        name = data.get("name")
        if not name:
            raise BadRequest("name is required.", "name")
        props = server_properties(data)
        be = backend(self)
        with _LOCK:
            if any(c["name"] == name for c in be.cutover_configurations().values()):
                raise Conflict(f"A configuration named {name} already exists.", "name")
            partition = get_partition(self.region)
            arn = f"arn:{partition}:kafka:{self.region}:{self.current_account}:configuration/{name}/{uuid.uuid4()}-1"
            now = _now()
            conf = {
                "arn": arn,
                "name": name,
                "description": data.get("description") or "",
                "kafkaVersions": list(data.get("kafkaVersions") or []),
                "creationTime": now,
                "state": "ACTIVE",
                "revisions": [
                    {"revision": 1, "creationTime": now, "description": data.get("description"), "serverProperties": props}
                ],
            }
            be.cutover_configurations()[arn] = conf
        return json.dumps(
            {
                "arn": arn,
                "creationTime": now,
                "latestRevision": revision_summary(conf["revisions"][-1]),
                "name": name,
                "state": "ACTIVE",
            }
        )

    def describe_configuration(self):
        conf = backend(self).cutover_get_configuration(uri_param(self, "arn"))
        return json.dumps(configuration_summary(conf))

    def describe_configuration_revision(self):
        conf = backend(self).cutover_get_configuration(uri_param(self, "arn"))
        try:
            number = int(uri_param(self, "revision"))
        except ValueError:
            raise BadRequest("revision must be a number.", "revision")
        for rev in conf["revisions"]:
            if rev["revision"] == number:
                out = revision_summary(rev)
                out["arn"] = conf["arn"]
                out["serverProperties"] = base64.b64encode(rev["serverProperties"]).decode("ascii")
                return json.dumps(out)
        raise NotFound(f"Revision {number} of configuration {conf['arn']} does not exist.", "revision")

    def list_configuration_revisions(self):
        conf = backend(self).cutover_get_configuration(uri_param(self, "arn"))
        page, token = paginate(self, [revision_summary(r) for r in conf["revisions"]])
        out: dict[str, Any] = {"revisions": page}
        if token:
            out["nextToken"] = token
        return json.dumps(out)

    def update_configuration(self):
        data = body(self)
        be = backend(self)
        with _LOCK:
            conf = be.cutover_get_configuration(uri_param(self, "arn"))
            props = server_properties(data)
            rev = {
                "revision": conf["revisions"][-1]["revision"] + 1,
                "creationTime": _now(),
                "description": data.get("description"),
                "serverProperties": props,
            }
            conf["revisions"].append(rev)
        return json.dumps({"arn": conf["arn"], "latestRevision": revision_summary(rev)})

    def delete_configuration(self):
        be = backend(self)
        with _LOCK:
            arn = uri_param(self, "arn")
            be.cutover_get_configuration(arn)
            in_use = [
                c.arn
                for c in be.clusters.values()
                if (c.configuration_info or {}).get("arn") == arn and c.state != "DELETING"
            ]
            if in_use:
                raise BadRequest(f"Configuration {arn} is in use by {', '.join(in_use)}.", "arn")
            be.cutover_configurations().pop(arn)
        return json.dumps({"arn": arn, "state": "DELETING"})

    def list_configurations(self):
        confs = [configuration_summary(c) for c in backend(self).cutover_configurations().values()]
        page, token = paginate(self, confs)
        out: dict[str, Any] = {"configurations": page}
        if token:
            out["nextToken"] = token
        return json.dumps(out)

    def list_kafka_versions(self):
        versions = ["2.8.1", "3.5.1", "3.6.0", "3.7.x", "3.8.x", "3.9.x", "4.0.x", "4.1.x"]
        return json.dumps({"kafkaVersions": [{"version": v, "status": "ACTIVE"} for v in versions]})

    KafkaResponse.create_configuration = create_configuration
    KafkaResponse.describe_configuration = describe_configuration
    KafkaResponse.describe_configuration_revision = describe_configuration_revision
    KafkaResponse.list_configuration_revisions = list_configuration_revisions
    KafkaResponse.update_configuration = update_configuration
    KafkaResponse.delete_configuration = delete_configuration
    KafkaResponse.list_configurations = list_configurations
    KafkaResponse.list_kafka_versions = list_kafka_versions

    # ---- SCRAM secrets (BatchAssociateScramSecret, BatchDisassociateScramSecret,
    # ListScramSecrets). As on MSK, a secret is refused (listed in unprocessedScramSecrets,
    # the call itself succeeds) when it does not exist, when its name does not start with
    # AmazonMSK_, or when it is encrypted with the default aws/secretsmanager key.
    def scram_secrets(cluster) -> list[str]:
        if not hasattr(cluster, "cutover_scram_secrets"):
            cluster.cutover_scram_secrets = []
        return cluster.cutover_scram_secrets

    def secrets_backend(be):
        from moto.secretsmanager.models import secretsmanager_backends

        return secretsmanager_backends[be.account_id][be.region_name]

    def secret_arn_list(data: dict[str, Any]) -> list[str]:
        arns = data.get("secretArnList")
        if not isinstance(arns, list) or not arns or not all(isinstance(a, str) for a in arns):
            raise BadRequest("secretArnList must list at least one secret ARN.", "secretArnList")
        return arns

    def scram_refusal(be, arn: str) -> tuple[str, str] | None:
        secret = secrets_backend(be).secrets.get(arn)
        if secret is None or getattr(secret, "deleted_date", None):
            return "SecretNotFound", f"Secret {arn} does not exist."
        if not secret.name.startswith("AmazonMSK_"):
            return "InvalidSecretName", "The secret name must start with AmazonMSK_."
        key = getattr(secret, "kms_key_id", None)
        if not key or key == "alias/aws/secretsmanager":
            return (
                "InvalidKmsKey",
                "Secrets encrypted with the default AWS KMS key cannot be used with Amazon MSK: use a customer managed key.",
            )
        return None

    def batch_associate_scram_secret(self):
        be = backend(self)
        cluster = be.cutover_get_cluster(uri_param(self, "clusterArn"))
        unprocessed = []
        with _LOCK:
            associated = scram_secrets(cluster)
            for arn in secret_arn_list(body(self)):
                refusal = scram_refusal(be, arn)
                if refusal:
                    unprocessed.append({"errorCode": refusal[0], "errorMessage": refusal[1], "secretArn": arn})
                elif arn not in associated:
                    associated.append(arn)
        return json.dumps({"clusterArn": cluster.arn, "unprocessedScramSecrets": unprocessed})

    def batch_disassociate_scram_secret(self):
        be = backend(self)
        cluster = be.cutover_get_cluster(uri_param(self, "clusterArn"))
        unprocessed = []
        with _LOCK:
            associated = scram_secrets(cluster)
            for arn in secret_arn_list(body(self)):
                if arn in associated:
                    associated.remove(arn)
                else:
                    unprocessed.append(
                        {"errorCode": "SecretNotAssociated", "errorMessage": f"Secret {arn} is not associated with the cluster.", "secretArn": arn}
                    )
        return json.dumps({"clusterArn": cluster.arn, "unprocessedScramSecrets": unprocessed})

    def list_scram_secrets(self):
        cluster = backend(self).cutover_get_cluster(uri_param(self, "clusterArn"))
        page, token = paginate(self, list(scram_secrets(cluster)))
        out: dict[str, Any] = {"secretArnList": page}
        if token:
            out["nextToken"] = token
        return json.dumps(out)

    KafkaResponse.batch_associate_scram_secret = batch_associate_scram_secret
    KafkaResponse.batch_disassociate_scram_secret = batch_disassociate_scram_secret
    KafkaResponse.list_scram_secrets = list_scram_secrets


# --------------------------------------------------------------------------- Secrets Manager


def _patch_secretsmanager() -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    orig = SecretsManagerBackend.update_secret_version_stage

    def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        result = orig(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        # Stock moto moves the labels but GetSecretValue without VersionId/VersionStage
        # keeps returning the old default version: make AWSCURRENT the default.
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].set_default_version_id(move_to_version_id)
        return result

    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


# --------------------------------------------------------------------------- S3


def _patch_s3() -> None:
    from moto.s3.responses import S3Response

    def atomic(orig):
        # Stock moto checks If-None-Match / If-Match and then writes, in two steps that
        # concurrent requests on the threaded server may interleave. A state lock taken with
        # If-None-Match: * must have exactly one winner, as on S3: conditional requests run
        # one at a time.
        def handler(self, *args, **kwargs):
            if self.headers.get("If-None-Match") or self.headers.get("If-Match"):
                with _LOCK:
                    return orig(self, *args, **kwargs)
            return orig(self, *args, **kwargs)

        return handler

    S3Response.put_object = atomic(S3Response.put_object)
    S3Response.delete_object = atomic(S3Response.delete_object)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="moto server with cutover's MSK/Secrets Manager extensions")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("CUTOVER_MOTO_PORT", "15000")))
    ap.add_argument("--tag", default="", help="ignored; marks the process for scripts/env")
    args = ap.parse_args(argv)
    install()
    from moto.server import main as moto_main

    print(
        f"cutover moto server on http://{args.host}:{args.port} "
        f"(MSK ACTIVE after {_active_after()} polls; bootstrap {_bootstrap_strings()})",
        flush=True,
    )
    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main(sys.argv[1:])
