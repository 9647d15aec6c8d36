//! ACLs against the local brokers (both run an authorizer, see env/README.md): the librdkafka
//! wrapper round-trips bindings on the ZooKeeper-mode and the KRaft cluster and reports the
//! 0.8.2 broker as having no ACL API; `data "kafka_acls"` reads the legacy cluster's bindings
//! and `kafka_acl` re-creates them on the target with a principal mapped, after which a SCRAM
//! client that was refused can write; drift when a binding is removed outside cutover; import;
//! destroy; the 0.8.2 note in the plan; MSK IAM refused at plan time; `modules/kafka-to-msk`'s
//! access part (the source's ACLs made on the target before the producers move, and the
//! assertion that they are all there). The proof that access works is the broker's authorizer
//! deciding for a real restricted client.

use std::collections::BTreeMap;
use std::time::Duration;

use cutover::config::value::Value;
use cutover::kafka::acl::{
    self, AclBinding, AclFilter, AclsRead, Operation, PatternKind, Permission, ResourceKind,
    ScramMechanism,
};
use cutover::kafka::connection::Cluster;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::{
    STATE_KEY, Workspace, aws_config, legacy_bootstrap, moto_endpoint, target_bootstrap,
    unique_name,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn scram_bootstrap() -> String {
    std::env::var("CUTOVER_TARGET_SCRAM_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:29094".into())
}

fn old_source_bootstrap() -> String {
    std::env::var("CUTOVER_OLD_SOURCE_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:19093".into())
}

fn cluster(address: &str, bootstrap: &str, version: Option<&str>) -> Cluster {
    let mut map = BTreeMap::from([
        ("address".to_owned(), Value::string(address)),
        ("bootstrap_servers".to_owned(), Value::string(bootstrap)),
        ("timeout".to_owned(), Value::string("20s")),
    ]);
    if let Some(version) = version {
        map.insert("broker_version".to_owned(), Value::string(version));
    }
    Cluster::from_value(&Value::Map(map)).expect("cluster")
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("blocking task")
}

async fn create_topic(bootstrap: &str, name: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    for result in admin
        .create_topics(
            &[NewTopic::new(name, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create topics")
    {
        result.expect("topic created");
    }
}

fn topic_acl(topic: &str, principal: &str, operation: Operation) -> AclBinding {
    AclBinding {
        resource_type: ResourceKind::Topic,
        pattern_type: PatternKind::Literal,
        resource_name: topic.to_owned(),
        principal: principal.to_owned(),
        host: "*".to_owned(),
        operation,
        permission: Permission::Allow,
    }
}

fn principal_filter(principal: &str) -> AclFilter {
    AclFilter {
        principal: Some(principal.to_owned()),
        ..AclFilter::any()
    }
}

/// Bindings of `principal`, waiting until there are `count` (the authorizer applies changes
/// shortly after the request returns).
async fn bindings_of(cluster: &Cluster, principal: &str, count: usize) -> Vec<AclBinding> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let found = {
            let cluster = cluster.clone();
            let filter = principal_filter(principal);
            blocking(move || acl::describe_acls_required(&cluster, &filter))
                .await
                .expect("describe ACLs")
        };
        if found.len() == count || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes one record as a SCRAM user through the target's SASL listener: `Ok` when the
/// broker's authorizer lets it, the error otherwise.
async fn write_as(user: &str, password: &str, topic: &str) -> Result<(), String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", scram_bootstrap())
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(topic).key("k").payload("v"),
            Duration::from_secs(10),
        )
        .await
        .map(|_| ())
        .map_err(|(error, _)| error.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acl_wrapper_round_trips_bindings_on_both_authorizers() {
    for (address, bootstrap) in [
        ("cluster.legacy", legacy_bootstrap()),
        ("cluster.target", target_bootstrap()),
    ] {
        let cluster = cluster(address, &bootstrap, None);
        let principal = format!("User:{}", unique_name("wrapper"));
        let bindings = vec![
            topic_acl("orders", &principal, Operation::Write),
            AclBinding {
                resource_type: ResourceKind::Group,
                pattern_type: PatternKind::Prefixed,
                resource_name: "billing-".to_owned(),
                principal: principal.clone(),
                host: "10.0.0.1".to_owned(),
                operation: Operation::Read,
                permission: Permission::Deny,
            },
        ];
        {
            let cluster = cluster.clone();
            let bindings = bindings.clone();
            blocking(move || acl::create_acls(&cluster, &bindings))
                .await
                .expect("create ACLs");
        }
        let mut expected = bindings.clone();
        expected.sort();
        assert_eq!(
            bindings_of(&cluster, &principal, 2).await,
            expected,
            "{address}"
        );
        let deleted = {
            let cluster = cluster.clone();
            let filter = principal_filter(&principal);
            blocking(move || acl::delete_acls(&cluster, &[filter]))
                .await
                .expect("delete ACLs")
        };
        assert_eq!(deleted, expected, "{address}");
        assert_eq!(
            bindings_of(&cluster, &principal, 0).await,
            Vec::new(),
            "{address}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_8_2_broker_has_no_acls_to_read_rather_than_an_error() {
    let old = cluster("cluster.old", &old_source_bootstrap(), Some("0.8.2"));
    let read = blocking(move || acl::describe_acls(&old, &AclFilter::any()))
        .await
        .expect("describe on 0.8.2");
    let AclsRead::Unavailable(reason) = read else {
        panic!("0.8.2 returned ACLs: {read:?}");
    };
    assert!(
        reason
            == "cluster.old: this cluster has no ACLs to read: its brokers (0.8.2) predate the ACL API (Kafka 0.11.0)",
        "{reason}"
    );

    // The plan says so and goes on.
    let workspace = Workspace::new("acls-old");
    workspace.write(
        "main.hcl",
        &format!(
            r#"
cluster "old" {{
  bootstrap_servers = "{old}"
  broker_version    = "0.8.2"
}}

data "kafka_acls" "old" {{
  cluster = cluster.old
}}

output "copied" {{
  value = length(data.kafka_acls.old.acls)
}}
"#,
            old = old_source_bootstrap()
        ),
    );
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains("this cluster has no ACLs to read"), "{plan}");
    assert!(plan.contains("no ACLs are copied from it"), "{plan}");
    assert!(
        plan.contains("main.hcl:7:"),
        "the note points at the data block: {plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_on_an_msk_iam_cluster_are_refused_at_plan_time() {
    let workspace = Workspace::new("acls-iam");
    workspace.write(
        "main.hcl",
        r#"
cluster "msk" {
  bootstrap_servers = "b-1.example.kafka.us-east-1.amazonaws.com:9098"
  security_protocol = "SASL_SSL"
  auth              = "aws_msk_iam"
}

resource "kafka_acl" "app" {
  cluster       = cluster.msk
  resource_type = "topic"
  resource_name = "orders"
  principal     = "User:app"
  operation     = "write"
}
"#,
    );
    let plan = workspace.expect(&["plan"], 1);
    assert!(plan.contains("Kafka ACLs do not apply"), "{plan}");
    assert!(plan.contains("main.hcl:8:"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_acl_arguments_are_caught_offline_with_their_location() {
    let workspace = Workspace::new("acls-validate");
    workspace.write(
        "main.hcl",
        r#"
cluster "target" {
  bootstrap_servers = "127.0.0.1:1"
}

resource "kafka_acl" "bad" {
  cluster       = cluster.target
  resource_type = "consumer_group"
  resource_name = "billing"
  principal     = "alice"
  operation     = "produce"
  permission    = "maybe"
}
"#,
    );
    let output = workspace.expect(&["validate"], 1);
    assert!(output.contains("main.hcl:8:"), "{output}");
    assert!(output.contains("did you mean \"group\"?"), "{output}");
    assert!(output.contains("did you mean \"User:alice\"?"), "{output}");
    assert!(output.contains("did you mean \"write\"?"), "{output}");
    assert!(output.contains("\"maybe\""), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_migrated_from_the_legacy_cluster_let_a_restricted_client_write_on_the_target() {
    let legacy = cluster("cluster.legacy", &legacy_bootstrap(), None);
    let target = cluster("cluster.target", &target_bootstrap(), None);
    let topic = unique_name("acl-orders");
    let app = unique_name("app");
    let other = unique_name("other");
    let password = "app-secret";
    // The application's principal on the old cluster (it logged in differently there) and
    // on the target, mapped in the configuration.
    let legacy_principal = format!("User:legacy-{app}");
    let target_principal = format!("User:{app}");
    let other_principal = format!("User:{other}");
    create_topic(&legacy_bootstrap(), &topic).await;
    create_topic(&target_bootstrap(), &topic).await;
    for user in [app.clone(), other.clone()] {
        let target = target.clone();
        blocking(move || acl::upsert_scram_user(&target, &user, ScramMechanism::Sha512, password))
            .await
            .expect("SCRAM user");
    }
    // The source allows the application to write; the target topic already has an ACL (for
    // another principal), so everyone not listed is refused there.
    {
        let legacy = legacy.clone();
        let binding = topic_acl(&topic, &legacy_principal, Operation::Write);
        blocking(move || acl::create_acls(&legacy, &[binding]))
            .await
            .expect("source ACL");
    }
    {
        let target = target.clone();
        let binding = topic_acl(&topic, &other_principal, Operation::Read);
        blocking(move || acl::create_acls(&target, &[binding]))
            .await
            .expect("target ACL for another principal");
    }
    bindings_of(&target, &other_principal, 1).await;
    let refused = write_as(&app, password, &topic).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_lowercase().contains("authorization")),
        "the application could write before its ACL was migrated: {refused:?}"
    );

    let workspace = Workspace::new("acls-migrate");
    let config = || {
        format!(
            r#"
cluster "legacy" {{
  bootstrap_servers = "{legacy}"
}}

cluster "target" {{
  bootstrap_servers = ["{scram}"]
  security_protocol = "SASL_PLAINTEXT"
  sasl_mechanism    = "SCRAM-SHA-512"
  sasl_username     = "cutover"
  sasl_password     = "cutover-secret"
}}

variable "principal_map" {{
  type    = map(string)
  default = {{ "{legacy_principal}" = "{target_principal}" }}
}}

data "kafka_acls" "legacy" {{
  cluster    = cluster.legacy
  principals = ["{legacy_principal}"]
}}

resource "kafka_acl" "copied" {{
  for_each      = data.kafka_acls.legacy.acls
  cluster       = cluster.target
  resource_type = each.value.resource_type
  resource_name = each.value.resource_name
  pattern_type  = each.value.pattern_type
  principal     = lookup(var.principal_map, each.value.principal, each.value.principal)
  host          = each.value.host
  operation     = each.value.operation
  permission    = each.value.permission
}}
"#,
            legacy = legacy_bootstrap(),
            scram = scram_bootstrap(),
        )
    };
    workspace.write("main.hcl", &config());
    let plan = workspace.expect(&["plan"], 0);
    let id = format!("topic|literal|{topic}|{target_principal}|*|write|allow");
    assert!(plan.contains("1 to add"), "{plan}");
    assert!(
        plan.contains(&id),
        "the plan shows the mapped binding: {plan}"
    );
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(
        bindings_of(&target, &target_principal, 1).await,
        vec![topic_acl(&topic, &target_principal, Operation::Write)]
    );
    write_as(&app, password, &topic)
        .await
        .expect("the application writes once its ACL is migrated");
    let still_refused = write_as(&other, password, &topic).await;
    assert!(
        still_refused.is_err(),
        "a principal the source did not allow to write can write: {still_refused:?}"
    );
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");

    // Removed outside cutover: drift, and the plan puts it back.
    {
        let target = target.clone();
        let filter = AclFilter::exact(&topic_acl(&topic, &target_principal, Operation::Write));
        blocking(move || acl::delete_acls(&target, &[filter]))
            .await
            .expect("delete outside cutover");
    }
    bindings_of(&target, &target_principal, 0).await;
    let drift = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(drift.contains("1 to add"), "{drift}");
    workspace.expect(&["apply", "-auto-approve"], 0);
    bindings_of(&target, &target_principal, 1).await;

    // An existing binding is imported by its id into a block of another configuration
    // (import does not read data sources, so the block is written out).
    let importer = Workspace::new("acls-import");
    importer.write(
        "main.hcl",
        &format!(
            r#"
cluster "target" {{
  bootstrap_servers = "{plaintext}"
}}

resource "kafka_acl" "app" {{
  cluster       = cluster.target
  resource_type = "topic"
  resource_name = "{topic}"
  principal     = "{target_principal}"
  operation     = "write"
}}
"#,
            plaintext = target_bootstrap()
        ),
    );
    let missing = importer.expect(
        &["import", "kafka_acl.app", &id.replace("|write|", "|read|")],
        1,
    );
    assert!(missing.contains("does not exist"), "{missing}");
    importer.expect(&["import", "kafka_acl.app", &id], 0);
    let replan = importer.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");
    importer.expect(&["state", "rm", "kafka_acl.app"], 0);

    // Destroy: the application is refused again.
    workspace.expect(&["destroy", "-auto-approve"], 0);
    assert_eq!(bindings_of(&target, &target_principal, 0).await, Vec::new());
    let refused = write_as(&app, password, &topic).await;
    assert!(refused.is_err(), "written after the ACL was destroyed");

    for (cluster, principal) in [(legacy, legacy_principal), (target, other_principal)] {
        blocking(move || acl::delete_acls(&cluster, &[principal_filter(&principal)]))
            .await
            .expect("clean up");
    }
}

/// Issue 21: a binding whose principal comes from a sensitive variable keeps it out of state
/// and output, its id included (state holds keyed hashes of both); refresh finds the binding
/// by comparing hashes (no changes after apply, drift when it is removed outside cutover) and
/// destroy deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_with_a_sensitive_principal_is_managed_without_storing_it() {
    let target = cluster("cluster.target", &target_bootstrap(), None);
    let topic = unique_name("acl-hidden");
    let secret_name = unique_name("hidden").replace('-', "");
    let principal = format!("User:{secret_name}");
    let workspace = Workspace::new("acls-sensitive");
    workspace.write(
        "main.hcl",
        &format!(
            r#"
variable "app_principal" {{
  type      = string
  sensitive = true
  default   = "{principal}"
}}

cluster "target" {{
  bootstrap_servers = "{plaintext}"
}}

resource "kafka_acl" "app" {{
  cluster       = cluster.target
  resource_type = "topic"
  resource_name = "{topic}"
  principal     = var.app_principal
  operation     = "write"
}}

output "acl_id" {{
  value     = kafka_acl.app.id
  sensitive = true
}}
"#,
            plaintext = target_bootstrap()
        ),
    );
    let plan = workspace.expect(&["plan"], 0);
    assert!(plan.contains("1 to add"), "{plan}");
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(
        bindings_of(&target, &principal, 1).await,
        vec![topic_acl(&topic, &principal, Operation::Write)]
    );
    let state = workspace.state_text();
    let shown = workspace.expect(&["show", "-json"], 0);
    let listed = workspace.expect(&["show"], 0);
    for (what, text) in [
        ("plan", &plan),
        ("apply", &applied),
        ("state", &state),
        ("show -json", &shown),
        ("show", &listed),
    ] {
        assert!(
            !text.contains(&secret_name),
            "{what} holds the sensitive principal:\n{text}"
        );
    }
    assert!(state.contains("hmac-sha256:"), "{state}");
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");

    // Removed outside cutover: the refresh, comparing hashes, sees it gone.
    {
        let target = target.clone();
        let filter = AclFilter::exact(&topic_acl(&topic, &principal, Operation::Write));
        blocking(move || acl::delete_acls(&target, &[filter]))
            .await
            .expect("delete outside cutover");
    }
    bindings_of(&target, &principal, 0).await;
    let drift = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(drift.contains("1 to add"), "{drift}");
    workspace.expect(&["apply", "-auto-approve"], 0);
    bindings_of(&target, &principal, 1).await;

    let destroyed = workspace.expect(&["destroy", "-auto-approve"], 0);
    assert!(!destroyed.contains(&secret_name), "{destroyed}");
    assert_eq!(bindings_of(&target, &principal, 0).await, Vec::new());
}

/// Runs cutover in `dir` with the local AWS (moto) settings, expecting `code`.
fn cutover_in(dir: &std::path::Path, args: &[&str], code: i32) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(dir)
        .env("CUTOVER_STATE_KEY", STATE_KEY)
        .env_remove("CUTOVER_STATE_KEY_FILE")
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .expect("run cutover");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.status.code(),
        Some(code),
        "cutover {args:?}:\n{text}"
    );
    text
}

/// The index of the first line of `text` that `wanted` accepts, failing with the text when
/// there is none.
fn line_where(text: &str, wanted: impl Fn(&str) -> bool) -> usize {
    text.lines()
        .position(|line| wanted(line.trim_end()))
        .unwrap_or_else(|| panic!("no such line in:\n{text}"))
}

/// Issue 20, end to end with `modules/kafka-to-msk` (MSK in moto, its brokers the local
/// target): the source allows an application to write; on the target it logs in as another
/// principal (mapped by `principal_map`) and is refused until the first phase's apply has
/// re-created the binding, which happens before the producers' secret is touched and is
/// checked by `assert.access_migrated` against what the target's authorizer lists. A binding
/// removed on the target outside cutover makes `verify` fail with it named; the next apply
/// makes it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_migrates_the_source_acls_before_the_producers_move() {
    let legacy = cluster("cluster.legacy", &legacy_bootstrap(), None);
    let target = cluster("cluster.target", &target_bootstrap(), None);
    let prefix = unique_name("access").replace('-', "");
    let topic = format!("{prefix}.orders");
    let app = format!("{prefix}-app");
    let other = format!("{prefix}-other");
    let password = "app-secret";
    let legacy_principal = format!("User:legacy-{app}");
    let target_principal = format!("User:{app}");
    let other_principal = format!("User:{other}");
    create_topic(&legacy_bootstrap(), &topic).await;
    for user in [app.clone(), other.clone()] {
        let target = target.clone();
        blocking(move || acl::upsert_scram_user(&target, &user, ScramMechanism::Sha512, password))
            .await
            .expect("SCRAM user");
    }
    {
        let legacy = legacy.clone();
        let binding = topic_acl(&topic, &legacy_principal, Operation::Write);
        blocking(move || acl::create_acls(&legacy, &[binding]))
            .await
            .expect("source ACL");
    }
    // On the target the topic's name has a binding for someone else, so a principal without
    // one of its own is refused (no "allow everyone" fallback).
    {
        let target = target.clone();
        let binding = topic_acl(&topic, &other_principal, Operation::Read);
        blocking(move || acl::create_acls(&target, &[binding]))
            .await
            .expect("target ACL for another principal");
    }
    bindings_of(&target, &other_principal, 1).await;
    let sm = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    for role in ["producers", "consumers"] {
        sm.create_secret()
            .name(format!("{prefix}/{role}"))
            .secret_string(format!(
                r#"{{"bootstrap_servers":"{}"}}"#,
                legacy_bootstrap()
            ))
            .send()
            .await
            .expect("application secret");
    }
    let refused = write_as(&app, password, &topic).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_lowercase().contains("authorization")),
        "the application could write before its ACL was migrated: {refused:?}"
    );

    let workspace = Workspace::new("module-access");
    std::os::unix::fs::symlink(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("modules"),
        workspace.dir.join("modules"),
    )
    .unwrap();
    workspace.write(
        "main.hcl",
        &format!(
            r#"
provider "aws" {{
  region        = "us-east-1"
  endpoint_url  = "{moto}"
  poll_interval = "1s"
}}

module "migration" {{
  source = "./modules/kafka-to-msk"

  phase = "mirror"
  name  = "{prefix}-msk"

  source_bootstrap_servers = ["{legacy}"]
  legacy_instance_tags     = {{ Migration = "{prefix}" }}
  topics_include           = ["{prefix}\\..*"]

  msk = {{
    kafka_version          = "3.9.x"
    number_of_broker_nodes = 1
    instance_type          = "kafka.t3.small"
    client_subnets         = ["subnet-local-a"]
    client_broker          = "PLAINTEXT"
    server_properties      = "auto.create.topics.enable=false\n"
  }}
  target_auth = "plaintext"

  producer_secret_id = "{prefix}/producers"
  consumer_secret_id = "{prefix}/consumers"
  consumer_groups    = ["{prefix}-billing"]
  decommission_scope = "migration"

  acl_principals = ["{legacy_principal}"]
  principal_map  = {{ "{legacy_principal}" = "{target_principal}" }}

  max_lag_records = 2000
  stable_for      = "5s"
  quiet_for       = "10s"
  gate_timeout    = "3m"
}}
"#,
            moto = moto_endpoint(),
            legacy = legacy_bootstrap(),
        ),
    );
    let dir = workspace.dir.clone();
    let id = format!("topic|literal|{topic}|{target_principal}|*|write|allow");
    let plan = cutover_in(&dir, &["plan", "-out", "pr.plan"], 0);
    assert!(
        plan.contains("module.migration.kafka_acl.access["),
        "{plan}"
    );
    assert!(
        plan.contains(&id),
        "the plan shows the mapped binding: {plan}"
    );
    assert!(plan.contains("assert.access_migrated"), "{plan}");
    let applied = cutover_in(&dir, &["apply", "pr.plan"], 0);
    // In order: the binding, the target's ACLs read after it, the check, then the producers.
    let created = line_where(&applied, |l| {
        l.contains("module.migration.kafka_acl.access[") && l.ends_with(": created")
    });
    let read = line_where(&applied, |l| {
        l.ends_with("module.migration.data.kafka_acls.target[0]: read")
    });
    let checked = line_where(&applied, |l| {
        l.contains("module.migration.assert.access_migrated: holds")
    });
    let producers = line_where(&applied, |l| {
        l.contains("module.migration.aws_secretsmanager_secret_version.producers: ")
    });
    assert!(
        created < read && read < checked && checked < producers,
        "{applied}"
    );
    assert_eq!(
        bindings_of(&target, &target_principal, 1).await,
        vec![topic_acl(&topic, &target_principal, Operation::Write)]
    );
    write_as(&app, password, &topic)
        .await
        .expect("the application writes once its ACL is migrated");
    let still_refused = write_as(&other, password, &topic).await;
    assert!(
        still_refused.is_err(),
        "a principal the source did not allow to write can write: {still_refused:?}"
    );
    cutover_in(&dir, &["verify"], 0);

    // Removed on the target outside cutover: the assertion names what is missing.
    {
        let target = target.clone();
        let filter = AclFilter::exact(&topic_acl(&topic, &target_principal, Operation::Write));
        blocking(move || acl::delete_acls(&target, &[filter]))
            .await
            .expect("delete outside cutover");
    }
    bindings_of(&target, &target_principal, 0).await;
    let failed = cutover_in(
        &dir,
        &[
            "verify",
            "-target",
            "module.migration.assert.access_migrated",
        ],
        3,
    );
    assert!(
        failed.contains("the target lacks 1 of the source's ACL bindings") && failed.contains(&id),
        "{failed}"
    );
    // The next plan makes it again, and the check (reading the target after it) holds.
    let drift = cutover_in(&dir, &["plan", "-detailed-exitcode"], 2);
    assert!(drift.contains("kafka_acl.access["), "{drift}");
    // The check reads the target after the binding is made again, not at plan time.
    assert!(
        drift.contains("depends on a resource or a module with changes pending"),
        "{drift}"
    );
    let healed = cutover_in(&dir, &["apply", "-auto-approve"], 0);
    assert!(
        healed.contains("module.migration.assert.access_migrated: holds"),
        "{healed}"
    );
    bindings_of(&target, &target_principal, 1).await;
    write_as(&app, password, &topic)
        .await
        .expect("the application writes again");

    for (cluster, principal) in [
        (legacy, legacy_principal),
        (target.clone(), other_principal),
        (target, target_principal),
    ] {
        blocking(move || acl::delete_acls(&cluster, &[principal_filter(&principal)]))
            .await
            .expect("clean up");
    }
}
