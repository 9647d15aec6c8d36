#!/usr/bin/env python3
"""Self-test of env/moto_server.py's extensions against a running server.

    test_moto_ext.py [--endpoint http://127.0.0.1:15000]

Uses boto3 (it comes with moto) with dummy credentials. Needs the server to run
with its defaults for CUTOVER_MOTO_MSK_ACTIVE_AFTER (it reads the same
variable) and the bootstrap ports. Exits non-zero on the first failure; prints
'N passed, 0 failed' at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import uuid

import boto3
import botocore.exceptions
from botocore.config import Config

N = int(os.environ.get("CUTOVER_MOTO_MSK_ACTIVE_AFTER", "2"))
HOST = os.environ.get("CUTOVER_TARGET_HOST", "127.0.0.1")
PLAIN = f"{HOST}:{os.environ.get('CUTOVER_TARGET_PORT', '29092')}"
SCRAM = f"{HOST}:{os.environ.get('CUTOVER_TARGET_SCRAM_PORT', '29094')}"

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def client(endpoint: str, service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def expect_error(code: str, status: int, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        meta = e.response["ResponseMetadata"]
        assert err["Code"] == code, f"expected {code}, got {err['Code']}: {err.get('Message')}"
        assert meta["HTTPStatusCode"] == status, f"expected HTTP {status}, got {meta['HTTPStatusCode']}"
        headers = {k.lower(): v for k, v in meta["HTTPHeaders"].items()}
        assert headers.get("x-amzn-errortype") == code, f"x-amzn-ErrorType header: {headers}"
        assert err.get("Message"), "error without message"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_state(kafka, arn: str, v2: bool = False) -> list[str]:
    """Describe until ACTIVE (at most N+1 describes); return the states seen."""
    seen = []
    for _ in range(N + 1):
        if v2:
            seen.append(kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]["State"])
        else:
            seen.append(kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"])
        if seen[-1] == "ACTIVE":
            break
    return seen


def new_cluster(kafka, v2: bool = True, **extra) -> str:
    name = unique("orders")
    if v2:
        prov = {
            "BrokerNodeGroupInfo": {
                "InstanceType": "kafka.m5.large",
                "ClientSubnets": ["subnet-a", "subnet-b", "subnet-c"],
                "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 100}},
            },
            "KafkaVersion": "3.9.x",
            "NumberOfBrokerNodes": 3,
            "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}},
        }
        prov.update(extra)
        r = kafka.create_cluster_v2(ClusterName=name, Provisioned=prov)
    else:
        r = kafka.create_cluster(
            ClusterName=name,
            KafkaVersion="3.9.x",
            NumberOfBrokerNodes=3,
            BrokerNodeGroupInfo={
                "InstanceType": "kafka.m5.large",
                "ClientSubnets": ["subnet-a", "subnet-b", "subnet-c"],
                "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 100}},
            },
            **extra,
        )
    assert r["State"] == "CREATING", r
    return r["ClusterArn"]


@test
def cluster_v2_becomes_active_after_n_describes(ep):
    kafka = client(ep, "kafka")
    arn = new_cluster(kafka, v2=True)
    assert ":cluster/orders-" in arn, arn
    seen = wait_state(kafka, arn, v2=True)
    assert seen == ["CREATING"] * N + ["ACTIVE"], seen
    info = kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
    assert info["State"] == "ACTIVE"
    assert "ActiveOperationArn" not in info, info
    prov = info["Provisioned"]
    assert prov["ClientAuthentication"]["Sasl"]["Iam"]["Enabled"] is True, prov
    assert prov["NumberOfBrokerNodes"] == 3
    assert info["CreationTime"].tzinfo is not None
    listed = [c["ClusterArn"] for c in kafka.list_clusters_v2()["ClusterInfoList"]]
    assert arn in listed


@test
def cluster_v1_becomes_active_and_raw_timestamp_has_z(ep):
    kafka = client(ep, "kafka")
    arn = new_cluster(kafka, v2=False)
    seen = wait_state(kafka, arn)
    assert seen == ["CREATING"] * N + ["ACTIVE"], seen
    # The Rust SDK only accepts RFC 3339 date-times that end in 'Z'.
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from urllib.parse import quote

    url = f"{ep}/v1/clusters/{quote(arn, safe='')}"
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("testing", "testing"), "kafka", "us-east-1").add_auth(req)
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers))) as resp:
        import json

        raw = json.loads(resp.read())["clusterInfo"]["creationTime"]
    assert raw.endswith("Z"), raw


@test
def bootstrap_brokers_point_at_local_target(ep):
    kafka = client(ep, "kafka")
    arn = new_cluster(kafka)
    b = kafka.get_bootstrap_brokers(ClusterArn=arn)
    assert b["BootstrapBrokerString"] == PLAIN, b
    assert b["BootstrapBrokerStringSaslScram"] == SCRAM, b
    assert b["BootstrapBrokerStringSaslIam"] == PLAIN, b
    assert b["BootstrapBrokerStringTls"] == PLAIN, b


@test
def delete_goes_deleting_then_not_found(ep):
    kafka = client(ep, "kafka")
    arn = new_cluster(kafka)
    wait_state(kafka, arn)
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    expect_error("BadRequestException", 400, kafka.delete_cluster, ClusterArn=arn, CurrentVersion="WRONG")
    r = kafka.delete_cluster(ClusterArn=arn, CurrentVersion=version)
    assert r["State"] == "DELETING", r
    for _ in range(N):
        assert kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"] == "DELETING"
    expect_error("NotFoundException", 404, kafka.describe_cluster, ClusterArn=arn)
    expect_error("NotFoundException", 404, kafka.describe_cluster_v2, ClusterArn=arn)


@test
def unknown_arns_are_404_not_found(ep):
    kafka = client(ep, "kafka")
    bogus = "arn:aws:kafka:us-east-1:123456789012:cluster/nope/00000000-0000-0000-0000-000000000000-1"
    bogus_conf = "arn:aws:kafka:us-east-1:123456789012:configuration/nope/00000000-0000-0000-0000-000000000000-1"
    bogus_op = "arn:aws:kafka:us-east-1:123456789012:cluster-operation/nope/0/1"
    calls = [
        (kafka.describe_cluster, {"ClusterArn": bogus}),
        (kafka.describe_cluster_v2, {"ClusterArn": bogus}),
        (kafka.get_bootstrap_brokers, {"ClusterArn": bogus}),
        (kafka.delete_cluster, {"ClusterArn": bogus}),
        (kafka.update_cluster_configuration, {"ClusterArn": bogus, "CurrentVersion": "x", "ConfigurationInfo": {"Arn": bogus_conf, "Revision": 1}}),
        (kafka.update_broker_count, {"ClusterArn": bogus, "CurrentVersion": "x", "TargetNumberOfBrokerNodes": 6}),
        (kafka.update_monitoring, {"ClusterArn": bogus, "CurrentVersion": "x", "EnhancedMonitoring": "PER_BROKER"}),
        (kafka.list_nodes, {"ClusterArn": bogus}),
        (kafka.get_cluster_policy, {"ClusterArn": bogus}),
        (kafka.describe_configuration, {"Arn": bogus_conf}),
        (kafka.describe_configuration_revision, {"Arn": bogus_conf, "Revision": 1}),
        (kafka.list_configuration_revisions, {"Arn": bogus_conf}),
        (kafka.update_configuration, {"Arn": bogus_conf, "ServerProperties": b"a=b"}),
        (kafka.delete_configuration, {"Arn": bogus_conf}),
        (kafka.describe_cluster_operation, {"ClusterOperationArn": bogus_op}),
        (kafka.describe_cluster_operation_v2, {"ClusterOperationArn": bogus_op}),
    ]
    for fn, kwargs in calls:
        e = expect_error("NotFoundException", 404, fn, **kwargs)
        assert "__type" not in e.response.get("Error", {}), e.response


@test
def error_body_is_the_real_shape_and_unemulated_is_501(ep):
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def raw_get(path):
        url = f"{ep}{path}"
        req = AWSRequest(method="GET", url=url)
        SigV4Auth(Credentials("testing", "testing"), "kafka", "us-east-1").add_auth(req)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers))) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    bogus = "arn:aws:kafka:us-east-1:123456789012:cluster/nope/0000"
    status, headers, body = raw_get(f"/v1/clusters/{quote(bogus, safe='')}")
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 404 and headers.get("x-amzn-errortype") == "NotFoundException", (status, headers)
    doc = json.loads(body)
    assert set(doc) <= {"message", "invalidParameter"} and doc["message"], doc
    kafka = client(ep, "kafka")
    arn = new_cluster(kafka)
    e = expect_error("NotImplementedException", 501, kafka.list_nodes, ClusterArn=arn)
    assert "not emulated" in e.response["Error"]["Message"], e.response


@test
def configurations_crud_with_revisions(ep):
    kafka = client(ep, "kafka")
    name = unique("orders-conf")
    props1 = b"auto.create.topics.enable=false\nlog.retention.hours=168\n"
    props2 = b"auto.create.topics.enable=false\nlog.retention.hours=72\n\xe2\x9c\x93=utf8\n"
    c = kafka.create_configuration(Name=name, KafkaVersions=["3.9.x"], ServerProperties=props1, Description="first")
    arn = c["Arn"]
    assert c["LatestRevision"]["Revision"] == 1 and c["State"] == "ACTIVE", c
    expect_error("ConflictException", 409, kafka.create_configuration, Name=name, ServerProperties=props1)
    d = kafka.describe_configuration(Arn=arn)
    assert d["Name"] == name and d["KafkaVersions"] == ["3.9.x"] and d["LatestRevision"]["Revision"] == 1, d
    r1 = kafka.describe_configuration_revision(Arn=arn, Revision=1)
    assert r1["ServerProperties"] == props1, r1
    u = kafka.update_configuration(Arn=arn, ServerProperties=props2, Description="second")
    assert u["LatestRevision"]["Revision"] == 2, u
    assert kafka.describe_configuration(Arn=arn)["LatestRevision"]["Revision"] == 2
    assert kafka.describe_configuration_revision(Arn=arn, Revision=2)["ServerProperties"] == props2
    assert kafka.describe_configuration_revision(Arn=arn, Revision=1)["ServerProperties"] == props1
    expect_error("NotFoundException", 404, kafka.describe_configuration_revision, Arn=arn, Revision=3)
    revs = kafka.list_configuration_revisions(Arn=arn)["Revisions"]
    assert [r["Revision"] for r in revs] == [1, 2], revs
    page = kafka.list_configuration_revisions(Arn=arn, MaxResults=1)
    assert len(page["Revisions"]) == 1 and page["NextToken"], page
    assert arn in [x["Arn"] for x in kafka.list_configurations()["Configurations"]]
    d = kafka.delete_configuration(Arn=arn)
    assert d["State"] == "DELETING", d
    expect_error("NotFoundException", 404, kafka.describe_configuration, Arn=arn)
    assert arn not in [x["Arn"] for x in kafka.list_configurations()["Configurations"]]


@test
def cluster_updates_check_version_and_track_operations(ep):
    kafka = client(ep, "kafka")
    conf = kafka.create_configuration(Name=unique("c"), ServerProperties=b"num.partitions=3\n")
    conf_arn = conf["Arn"]
    kafka.update_configuration(Arn=conf_arn, ServerProperties=b"num.partitions=6\n")
    arn = new_cluster(kafka, ConfigurationInfo={"Arn": conf_arn, "Revision": 1})

    # Not ACTIVE yet: updates are refused like the real API.
    version = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"]
    if N > 0:
        expect_error("BadRequestException", 400, kafka.update_monitoring, ClusterArn=arn, CurrentVersion=version, EnhancedMonitoring="PER_BROKER")
    wait_state(kafka, arn)

    def run(update, check, v2_op=False, **kwargs):
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        old_version = info["CurrentVersion"]
        expect_error("BadRequestException", 400, update, ClusterArn=arn, CurrentVersion="K0WRONG", **kwargs)
        r = update(ClusterArn=arn, CurrentVersion=old_version, **kwargs)
        assert r["ClusterArn"] == arn and ":cluster-operation/" in r["ClusterOperationArn"], r
        op_arn = r["ClusterOperationArn"]
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]  # poll 1
        assert info["CurrentVersion"] != old_version, info
        if N > 0:
            assert info["State"] == "UPDATING" and info["ActiveOperationArn"] == op_arn, info
            # A second update while UPDATING is refused.
            expect_error("BadRequestException", 400, kafka.update_monitoring, ClusterArn=arn, CurrentVersion=info["CurrentVersion"], EnhancedMonitoring="DEFAULT")
        check(info)
        if v2_op:
            op = kafka.describe_cluster_operation_v2(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
            assert op["OperationState"] in ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"), op
            assert "TargetClusterInfo" in op["Provisioned"], op
        else:
            op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
            assert op["ClusterArn"] == arn and op["OperationState"] in ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"), op
        for _ in range(N + 1):
            state = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["State"]
            if state == "ACTIVE":
                break
        assert state == "ACTIVE", state
        info = kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]
        assert "ActiveOperationArn" not in info, info
        check(info)
        if v2_op:
            op = kafka.describe_cluster_operation_v2(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
        else:
            op = kafka.describe_cluster_operation(ClusterOperationArn=op_arn)["ClusterOperationInfo"]
        assert op["OperationState"] == "UPDATE_COMPLETE" and "EndTime" in op, op
        return op

    op = run(
        kafka.update_cluster_configuration,
        lambda i: i["CurrentBrokerSoftwareInfo"]["ConfigurationRevision"] == 2 or fail("revision", i),
        ConfigurationInfo={"Arn": conf_arn, "Revision": 2},
    )
    assert op["OperationType"] == "UPDATE_CLUSTER_CONFIGURATION", op
    assert op["SourceClusterInfo"]["ConfigurationInfo"]["Revision"] == 1, op
    assert op["TargetClusterInfo"]["ConfigurationInfo"]["Revision"] == 2, op
    expect_error(
        "NotFoundException", 404, kafka.update_cluster_configuration, ClusterArn=arn,
        CurrentVersion=kafka.describe_cluster(ClusterArn=arn)["ClusterInfo"]["CurrentVersion"],
        ConfigurationInfo={"Arn": conf_arn, "Revision": 9},
    )
    run(kafka.update_broker_count, lambda i: i["NumberOfBrokerNodes"] == 6 or fail("count", i), TargetNumberOfBrokerNodes=6)
    run(
        kafka.update_broker_storage,
        lambda i: i["BrokerNodeGroupInfo"]["StorageInfo"]["EbsStorageInfo"]["VolumeSize"] == 500 or fail("storage", i),
        v2_op=True,
        TargetBrokerEBSVolumeInfo=[{"KafkaBrokerNodeId": "All", "VolumeSizeGB": 500}],
    )
    run(kafka.update_broker_type, lambda i: i["BrokerNodeGroupInfo"]["InstanceType"] == "kafka.m7g.xlarge" or fail("type", i), TargetInstanceType="kafka.m7g.xlarge")
    run(
        kafka.update_cluster_kafka_version,
        lambda i: i["CurrentBrokerSoftwareInfo"]["KafkaVersion"] == "4.1.x" or fail("version", i),
        TargetKafkaVersion="4.1.x",
    )
    run(kafka.update_monitoring, lambda i: i["EnhancedMonitoring"] == "PER_TOPIC_PER_BROKER" or fail("monitoring", i), EnhancedMonitoring="PER_TOPIC_PER_BROKER")
    run(
        kafka.update_security,
        lambda i: i["ClientAuthentication"]["Sasl"]["Scram"]["Enabled"] is True or fail("security", i),
        v2_op=True,
        ClientAuthentication={"Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}}},
    )
    # A configuration in use cannot be deleted.
    expect_error("BadRequestException", 400, kafka.delete_configuration, Arn=conf_arn)


def fail(what, info):
    raise AssertionError(f"{what} not applied: {info}")


@test
def secret_version_stage_moves_default(ep):
    sm = client(ep, "secretsmanager")
    name = unique("prod/orders/kafka")
    sm.create_secret(Name=name, SecretString="old")
    v1 = next(k for k, st in sm.describe_secret(SecretId=name)["VersionIdsToStages"].items() if "AWSCURRENT" in st)
    v2 = sm.put_secret_value(SecretId=name, SecretString="new")["VersionId"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "new"
    # Roll back: AWSCURRENT to v1.
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=v1, RemoveFromVersionId=v2)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "old"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "new"
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages[v1] == ["AWSCURRENT"] and stages[v2] == ["AWSPREVIOUS"], stages
    # Roll forward again, through the ARN.
    arn = sm.describe_secret(SecretId=name)["ARN"]
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=v2, RemoveFromVersionId=v1)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "new"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "old"
    # A later put still makes the new value current and the current one previous.
    v3 = sm.put_secret_value(SecretId=name, SecretString="newer")["VersionId"]
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages[v3] == ["AWSCURRENT"] and stages[v2] == ["AWSPREVIOUS"] and not stages.get(v1), stages
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "newer"


@test
def s3_conditional_writes_have_one_winner(ep):
    import threading

    s3 = client(ep, "s3")
    bucket = unique("cutover-state")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for trial in range(5):
        key = f"state-{trial}.lock"
        wins, start = [], threading.Barrier(8)

        def take(i):
            start.wait()
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode(), IfNoneMatch="*")
                wins.append(i)
            except botocore.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] == "PreconditionFailed", e.response["Error"]

        threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, f"{len(wins)} writers won the same If-None-Match: * put"
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        # A delete with a stale ETag is refused; with the current one it succeeds, and the
        # key can be taken again (a delete marker in a versioned bucket is no object).
        try:
            s3.delete_object(Bucket=bucket, Key=key, IfMatch='"0000"')
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "PreconditionFailed", e.response["Error"]
        else:
            raise AssertionError("delete with a stale If-Match succeeded")
        s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        s3.put_object(Bucket=bucket, Key=key, Body=b"again", IfNoneMatch="*")


@test
def scram_secrets_are_associated_listed_and_disassociated_with_msks_checks(ep):
    kafka = client(ep, "kafka")
    sm = client(ep, "secretsmanager")
    kms = client(ep, "kms")
    key = kms.create_key(Description="cutover scram test")["KeyMetadata"]["KeyId"]
    arn = new_cluster(kafka, v2=True, ClientAuthentication={"Sasl": {"Scram": {"Enabled": True}}})
    wait_state(kafka, arn, v2=True)
    good = sm.create_secret(Name=unique("AmazonMSK_app"), KmsKeyId=key, SecretString='{"username":"app","password":"p"}')["ARN"]
    default_key = sm.create_secret(Name=unique("AmazonMSK_default"), SecretString="{}")["ARN"]
    wrong_name = sm.create_secret(Name=unique("app"), KmsKeyId=key, SecretString="{}")["ARN"]
    missing = good.replace("AmazonMSK_app", "AmazonMSK_gone")
    r = kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[good, default_key, wrong_name, missing])
    codes = {u["SecretArn"]: u["ErrorCode"] for u in r["UnprocessedScramSecrets"]}
    assert codes == {default_key: "InvalidKmsKey", wrong_name: "InvalidSecretName", missing: "SecretNotFound"}, codes
    assert kafka.list_scram_secrets(ClusterArn=arn)["SecretArnList"] == [good]
    # Associating again is no change.
    kafka.batch_associate_scram_secret(ClusterArn=arn, SecretArnList=[good])
    assert kafka.list_scram_secrets(ClusterArn=arn)["SecretArnList"] == [good]
    r = kafka.batch_disassociate_scram_secret(ClusterArn=arn, SecretArnList=[good, wrong_name])
    assert [u["SecretArn"] for u in r["UnprocessedScramSecrets"]] == [wrong_name], r
    assert kafka.list_scram_secrets(ClusterArn=arn)["SecretArnList"] == []
    expect_error("NotFoundException", 404, kafka.list_scram_secrets, ClusterArn=arn + "x")
    expect_error("BadRequestException", 400, kafka.batch_associate_scram_secret, ClusterArn=arn, SecretArnList=[])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", default=f"http://127.0.0.1:{os.environ.get('CUTOVER_MOTO_PORT', '15000')}")
    args = ap.parse_args()
    passed = failed = 0
    for fn in TESTS:
        try:
            fn(args.endpoint)
        except Exception:  # noqa: BLE001 - report every failure the same way
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
