//! AWS providers against moto (needs `scripts/env up`), through the real AWS SDK for Rust:
//! MSK configuration and cluster round trips (create, no-op re-plan, update through the right
//! operation, replace, destroy), an interrupted MSK creation resumed, a secret flip read back
//! with GetSecretValue and rolled back with `cutover rollback`, secrets kept out of every
//! output and of the state, imports, EC2 adoption and the decommission guard (refused while a
//! producer writes to the legacy broker or a consumer group is active, allowed after), and
//! the S3 state backend (state, versions, lock contention, force-unlock, server-side
//! encryption), and state and plan encryption with a KMS key.
//!
//! Plans are compared with reviewed snapshots in `tests/fixtures/aws/` (ARNs, ids, addresses
//! and names filtered); update them with `CUTOVER_UPDATE_SNAPSHOTS=1 cargo test --test it
//! aws::` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::config::value::Value;
use cutover::engine::Engine;
use cutover::engine::executor::{ApplyReport, Outcome, Reporter, apply};
use cutover::engine::planner::{PlanOptions, Planned, plan};
use cutover::plan::render::{HumanOptions, render_human};
use cutover::plan::{Action, PlanMode};
use cutover::providers::Registry;
use cutover::shutdown::Shutdown;
use cutover::state::{
    Backend, HashKey, KeyOrigin, LocalBackend, LockAttempt, LockGuard, LockInfo, S3Backend,
    S3Settings, State, StateError,
};

use super::support::{aws_config, legacy_bootstrap, moto_endpoint, unique_name};

const STATE_KEY_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

// ---------------------------------------------------------------------------------------------
// Harness

/// A configuration directory planned and applied in-process with every built-in provider.
struct Harness {
    dir: PathBuf,
    engine: Engine,
    log: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&format!("cutover-aws-{name}")));
        std::fs::create_dir_all(&dir).unwrap();
        let engine = Engine {
            config_dir: dir.clone(),
            environment_vars: Vec::new(),
            command_line_vars: Vec::new(),
            registry: Arc::new(Registry::builtin()),
            backend: Arc::new(LocalBackend::in_directory(&dir)),
            key: HashKey::parse(STATE_KEY_HEX, KeyOrigin::Explicit).unwrap(),
            encryption: None,
            parallelism: 4,
            lock_timeout: Duration::ZERO,
            lock_enabled: true,
        };
        Harness {
            dir,
            engine,
            log: Arc::default(),
        }
    }

    fn write(&self, text: &str) {
        std::fs::write(self.dir.join("main.hcl"), text).unwrap();
    }

    fn reporter(&self) -> Reporter {
        let log = self.log.clone();
        Arc::new(move |line: &str| log.lock().unwrap().push(line.to_owned()))
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn plan_with(&self, options: PlanOptions) -> Planned {
        let planned = plan(&self.engine, &options, &Shutdown::never())
            .await
            .expect("plan");
        assert!(
            !planned.diagnostics.has_errors(),
            "{}",
            planned.diagnostics.render(None)
        );
        planned
    }

    async fn plan(&self) -> Planned {
        self.plan_with(PlanOptions::default()).await
    }

    async fn apply(&self, planned: Planned) -> ApplyReport {
        apply(&self.engine, planned, Shutdown::never(), self.reporter())
            .await
            .expect("apply")
    }

    async fn apply_ok(&self, planned: Planned) {
        let report = self.apply(planned).await;
        assert!(!report.failed(), "{report:?}\n{}", self.log_text());
    }

    async fn state(&self) -> State {
        self.engine.backend.read().await.unwrap().expect("a state")
    }

    async fn attributes(&self, address: &str) -> Value {
        self.state()
            .await
            .resource_by_display(address)
            .unwrap_or_else(|| panic!("{address} in state"))
            .attributes_value()
    }

    fn state_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("cutover.state.json")).unwrap_or_default()
    }

    /// Runs the binary in this directory.
    fn cli(&self, args: &[&str]) -> (i32, String) {
        run_cli(&self.dir, args)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn run_cli(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(dir)
        .env("CUTOVER_STATE_KEY", STATE_KEY_HEX)
        .env_remove("CUTOVER_STATE_KEY_FILE")
        .output()
        .expect("run cutover");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn provider_block(poll_interval: &str) -> String {
    format!(
        "provider \"aws\" {{\n  region        = \"us-east-1\"\n  endpoint_url  = \"{}\"\n  poll_interval = \"{poll_interval}\"\n}}\n",
        moto_endpoint()
    )
}

fn get<'v>(value: &'v Value, name: &str) -> &'v Value {
    value
        .as_map()
        .and_then(|map| map.get(name))
        .unwrap_or_else(|| panic!("no attribute {name} in {value}"))
}

fn text(value: &Value, name: &str) -> String {
    get(value, name)
        .as_str()
        .unwrap_or_else(|| panic!("{name} is not a string in {value}"))
        .to_owned()
}

fn actions(planned: &Planned) -> Vec<(String, Action)> {
    planned
        .plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.importing.is_some())
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

/// The human plan with what changes from run to run replaced by placeholders.
fn filtered(text: &str, names: &[(&str, &str)]) -> String {
    let mut text = text.to_owned();
    for (name, placeholder) in names {
        text = text.replace(name, placeholder);
    }
    for (pattern, placeholder) in [
        (r"arn:aws:[A-Za-z0-9:/._+=@-]+", "[ARN]"),
        (r"\bi-[0-9a-f]{8,17}\b", "[INSTANCE]"),
        (r"\bvol-[0-9a-f]{8,17}\b", "[VOLUME]"),
        (r"\bsubnet-[0-9a-f]{8,17}\b", "[SUBNET]"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[UUID]",
        ),
        (r"\bK[A-Z0-9]{13}\b", "[CLUSTER-VERSION]"),
        (r"\bip-[0-9-]+\.ec2\.internal\b", "[DNS]"),
        (r"\b(?:10|172|192|54)\.\d+\.\d+\.\d+\b", "[IP]"),
        (r"\bus-east-1[a-f]\b", "[AZ]"),
    ] {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, placeholder)
            .into_owned();
    }
    text
}

/// Compares with `tests/fixtures/aws/NAME.txt` (written when CUTOVER_UPDATE_SNAPSHOTS is set).
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/aws")
        .join(format!("{name}.txt"));
    if std::env::var_os("CUTOVER_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with CUTOVER_UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "the plan differs from {} (CUTOVER_UPDATE_SNAPSHOTS=1 updates it)",
        path.display()
    );
}

fn human(planned: &Planned) -> String {
    render_human(&planned.plan, &HumanOptions::default())
}

// ---------------------------------------------------------------------------------------------
// MSK

/// The settings the MSK test changes between applies.
#[derive(Clone)]
struct Msk<'a> {
    properties: &'a str,
    kafka_version: &'a str,
    brokers: u32,
    instance_type: &'a str,
    storage: u32,
    subnets: [&'a str; 3],
    scram: bool,
    monitoring: &'a str,
    prevent_destroy: bool,
}

const MSK_V1: Msk<'static> = Msk {
    properties: PROPERTIES_V1,
    kafka_version: "3.9.x",
    brokers: 3,
    instance_type: "kafka.m5.large",
    storage: 100,
    subnets: ["subnet-a", "subnet-b", "subnet-c"],
    scram: false,
    monitoring: "DEFAULT",
    prevent_destroy: false,
};

fn msk_config(name: &str, msk: &Msk) -> String {
    let subnets: Vec<String> = msk.subnets.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        r#"{provider}
resource "aws_msk_configuration" "target" {{
  name              = "{name}"
  kafka_versions    = ["3.9.x", "4.0.x"]
  description       = "orders brokers"
  server_properties = <<-EOT
{properties}  EOT
}}

resource "aws_msk_cluster" "target" {{
  cluster_name           = "{name}"
  kafka_version          = "{kafka_version}"
  number_of_broker_nodes = {brokers}
  broker_node_group_info {{
    instance_type  = "{instance_type}"
    client_subnets = [{subnets}]
    storage_gb     = {storage}
  }}
  configuration_arn      = aws_msk_configuration.target.arn
  configuration_revision = aws_msk_configuration.target.latest_revision
  client_authentication {{
    sasl_iam   = true
    sasl_scram = {scram}
  }}
  enhanced_monitoring = "{monitoring}"
  tags = {{
    team = "data"
  }}
  timeouts {{
    create = "2m"
  }}
  lifecycle {{
    prevent_destroy = {prevent_destroy}
  }}
}}

output "bootstrap" {{
  value = aws_msk_cluster.target.bootstrap_brokers_sasl_iam
}}
"#,
        provider = provider_block("20ms"),
        properties = msk.properties,
        kafka_version = msk.kafka_version,
        brokers = msk.brokers,
        instance_type = msk.instance_type,
        storage = msk.storage,
        scram = msk.scram,
        monitoring = msk.monitoring,
        prevent_destroy = msk.prevent_destroy,
        subnets = subnets.join(", ")
    )
}

const PROPERTIES_V1: &str = "    auto.create.topics.enable=false\n    default.replication.factor=3\n    log.retention.hours=168\n";
const PROPERTIES_V2: &str = "    auto.create.topics.enable=false\n    default.replication.factor=3\n    log.retention.hours=72\n    num.partitions=6\n";

async fn describe_cluster(arn: &str) -> Option<aws_sdk_kafka::types::Cluster> {
    let kafka = aws_sdk_kafka::Client::new(&aws_config().await);
    match kafka.describe_cluster_v2().cluster_arn(arn).send().await {
        Ok(out) => out.cluster_info().cloned(),
        Err(error) => {
            let code = aws_sdk_kafka::error::ProvideErrorMetadata::code(&error);
            assert_eq!(code, Some("NotFoundException"), "{error:?}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_configuration_and_cluster_create_update_replace_and_destroy() {
    let h = Harness::new("msk");
    let name = unique_name("orders");
    let names = [(name.as_str(), "[NAME]")];
    h.write(&msk_config(&name, &MSK_V1));

    // Create: the configuration, then the cluster waited for until ACTIVE.
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![
            ("aws_msk_cluster.target".to_owned(), Action::Create),
            ("aws_msk_configuration.target".to_owned(), Action::Create),
        ]
    );
    snapshot("msk_create", &filtered(&human(&planned), &names));
    h.apply_ok(planned).await;
    let log = h.log_text();
    assert!(
        log.contains(&format!("creating MSK cluster {name}: CREATING")),
        "{log}"
    );
    let cluster = h.attributes("aws_msk_cluster.target").await;
    let arn = text(&cluster, "arn");
    assert_eq!(text(&cluster, "state"), "ACTIVE");
    assert_eq!(text(&cluster, "bootstrap_brokers"), "127.0.0.1:29092");
    assert_eq!(
        text(&cluster, "bootstrap_brokers_sasl_scram"),
        "127.0.0.1:29094"
    );
    assert_eq!(get(&cluster, "configuration_revision"), &Value::int(1));
    let state = h.state().await;
    assert_eq!(
        state.outputs["bootstrap"].to_value(),
        Value::string("127.0.0.1:29092")
    );
    let live = describe_cluster(&arn).await.expect("the cluster exists");
    let provisioned = live.provisioned().unwrap();
    assert_eq!(provisioned.number_of_broker_nodes(), Some(3));
    assert_eq!(live.tags().unwrap()["team"], "data");
    assert!(
        provisioned
            .client_authentication()
            .and_then(|a| a.sasl())
            .and_then(|s| s.iam())
            .and_then(|i| i.enabled())
            .unwrap_or(false)
    );

    // What was applied is what is read back: nothing to do.
    let planned = h.plan().await;
    assert!(!planned.plan.has_changes(), "{}", human(&planned));
    assert!(planned.plan.drift.is_empty(), "{}", human(&planned));

    // Update: new properties make revision 2, which the cluster picks up; every other
    // setting goes through its own operation, one after the other.
    let v2 = Msk {
        properties: PROPERTIES_V2,
        kafka_version: "4.0.x",
        brokers: 6,
        instance_type: "kafka.m5.2xlarge",
        storage: 200,
        scram: true,
        monitoring: "PER_BROKER",
        ..MSK_V1
    };
    h.write(&msk_config(&name, &v2));
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![
            ("aws_msk_cluster.target".to_owned(), Action::Update),
            ("aws_msk_configuration.target".to_owned(), Action::Update),
        ]
    );
    let shown = human(&planned);
    assert!(shown.contains("- log.retention.hours=168"), "{shown}");
    assert!(shown.contains("+ log.retention.hours=72"), "{shown}");
    assert!(
        shown.contains("~ configuration_revision = 1 -> (known after apply)"),
        "{shown}"
    );
    snapshot("msk_update", &filtered(&shown, &names));
    h.apply_ok(planned).await;
    let log = h.log_text();
    for step in [
        "upgrading Kafka to 4.0.x",
        "changing the broker count to 6",
        "growing broker storage to 200 GiB",
        "changing the broker type to kafka.m5.2xlarge",
        "changing client authentication and encryption",
        "setting enhanced monitoring to PER_BROKER",
    ] {
        assert!(log.contains(step), "{step} missing from:\n{log}");
    }
    let cluster = h.attributes("aws_msk_cluster.target").await;
    assert_eq!(text(&cluster, "arn"), arn, "updated in place");
    assert_eq!(get(&cluster, "configuration_revision"), &Value::int(2));
    let live = describe_cluster(&arn).await.unwrap();
    let provisioned = live.provisioned().unwrap();
    assert_eq!(provisioned.number_of_broker_nodes(), Some(6));
    assert_eq!(
        provisioned
            .broker_node_group_info()
            .and_then(|b| b.storage_info())
            .and_then(|s| s.ebs_storage_info())
            .and_then(|e| e.volume_size()),
        Some(200)
    );
    assert_eq!(
        provisioned
            .current_broker_software_info()
            .and_then(|s| s.configuration_revision()),
        Some(2)
    );
    let software = provisioned.current_broker_software_info().unwrap();
    assert_eq!(software.kafka_version(), Some("4.0.x"));
    assert_eq!(
        provisioned
            .broker_node_group_info()
            .and_then(|b| b.instance_type()),
        Some("kafka.m5.2xlarge")
    );
    assert_eq!(
        provisioned.enhanced_monitoring().map(|m| m.as_str()),
        Some("PER_BROKER")
    );
    assert!(
        provisioned
            .client_authentication()
            .and_then(|a| a.sasl())
            .and_then(|s| s.scram())
            .and_then(|s| s.enabled())
            .unwrap_or(false)
    );
    let planned = h.plan().await;
    assert!(!planned.plan.has_changes(), "{}", human(&planned));

    // Storage never shrinks: the plan says so instead of failing half-way.
    h.write(&msk_config(
        &name,
        &Msk {
            storage: 150,
            ..v2.clone()
        },
    ));
    let refused = plan(&h.engine, &PlanOptions::default(), &Shutdown::never())
        .await
        .unwrap();
    let problems = refused.diagnostics.render(None);
    assert!(
        problems.contains("broker_node_group_info.storage_gb cannot shrink from 200 to 150 GiB"),
        "{problems}"
    );

    // Subnets cannot change in place: a replacement, named as such.
    h.write(&msk_config(
        &name,
        &Msk {
            subnets: ["subnet-a", "subnet-b", "subnet-d"],
            ..v2.clone()
        },
    ));
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![(
            "aws_msk_cluster.target".to_owned(),
            Action::DeleteThenCreate
        )]
    );
    let shown = human(&planned);
    assert!(
        shown.contains(
            "# (because broker_node_group_info.client_subnets cannot be changed in place)"
        ),
        "{shown}"
    );
    snapshot("msk_replace", &filtered(&shown, &names));
    h.apply_ok(planned).await;
    let replaced = text(&h.attributes("aws_msk_cluster.target").await, "arn");
    assert_ne!(replaced, arn);
    assert!(
        describe_cluster(&arn).await.is_none(),
        "the old cluster is gone"
    );

    // prevent_destroy, once applied, refuses a destroy plan.
    let protected = Msk {
        subnets: ["subnet-a", "subnet-b", "subnet-d"],
        prevent_destroy: true,
        ..v2.clone()
    };
    h.write(&msk_config(&name, &protected));
    h.apply_ok(h.plan().await).await;
    let refused = plan(
        &h.engine,
        &PlanOptions {
            mode: PlanMode::Destroy,
            ..PlanOptions::default()
        },
        &Shutdown::never(),
    )
    .await
    .unwrap();
    let problems = refused.diagnostics.render(None);
    assert!(
        problems.contains(
            "aws_msk_cluster.target has lifecycle.prevent_destroy set, but the plan would destroy it"
        ),
        "{problems}"
    );
    h.write(&msk_config(
        &name,
        &Msk {
            prevent_destroy: false,
            ..protected
        },
    ));
    h.apply_ok(h.plan().await).await;

    // Destroy waits until both are gone.
    let planned = h
        .plan_with(PlanOptions {
            mode: PlanMode::Destroy,
            ..PlanOptions::default()
        })
        .await;
    h.apply_ok(planned).await;
    assert!(describe_cluster(&replaced).await.is_none());
    assert!(h.state().await.resources.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_msk_create_resumes_waiting_for_the_same_cluster() {
    let h = Harness::new("msk-resume");
    let name = unique_name("resume");
    // Slow polls, so the creation is still waiting when it is interrupted.
    let config = format!(
        r#"{provider}
resource "aws_msk_cluster" "target" {{
  cluster_name           = "{name}"
  kafka_version          = "3.9.x"
  number_of_broker_nodes = 3
  broker_node_group_info {{
    instance_type  = "kafka.m5.large"
    client_subnets = ["subnet-a", "subnet-b", "subnet-c"]
  }}
}}
"#,
        provider = provider_block("3s")
    );
    h.write(&config);
    let planned = h.plan().await;
    let (interrupt, interrupts) = Shutdown::new();
    let started = Instant::now();
    let (report, ()) = tokio::join!(apply(&h.engine, planned, interrupts, h.reporter()), async {
        while !h.state_text().contains("\"pending\"") {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no intent recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        interrupt.cancel();
    });
    let report = report.unwrap();
    assert!(report.interrupted);
    assert_eq!(
        report.outcomes[0].2,
        Outcome::Failed("interrupted".to_owned()),
        "{report:?}"
    );
    let state = h.state().await;
    let pending = state.resources[0]
        .pending
        .clone()
        .expect("the intent is in state");
    let recorded_arn = pending.handle["arn"].as_str().unwrap().to_owned();
    assert!(pending.detail.contains(&recorded_arn), "{}", pending.detail);

    // The next apply waits for that cluster instead of creating another one.
    let h_fast = h;
    h_fast.write(&config.replace("poll_interval = \"3s\"", "poll_interval = \"20ms\""));
    let planned = h_fast.plan().await;
    assert_eq!(
        actions(&planned),
        vec![("aws_msk_cluster.target".to_owned(), Action::Create)]
    );
    h_fast.apply_ok(planned).await;
    assert!(
        h_fast
            .log_text()
            .contains(&format!("resuming the wait for {recorded_arn}")),
        "{}",
        h_fast.log_text()
    );
    let cluster = h_fast.attributes("aws_msk_cluster.target").await;
    assert_eq!(text(&cluster, "arn"), recorded_arn);
    assert_eq!(text(&cluster, "state"), "ACTIVE");
    let kafka = aws_sdk_kafka::Client::new(&aws_config().await);
    let listed = kafka
        .list_clusters_v2()
        .cluster_name_filter(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.cluster_info_list().len(),
        1,
        "exactly one cluster named {name}"
    );
    let planned = h_fast
        .plan_with(PlanOptions {
            mode: PlanMode::Destroy,
            ..PlanOptions::default()
        })
        .await;
    h_fast.apply_ok(planned).await;
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager

fn secret_config(name: &str, servers: &str, password_default: &str) -> String {
    format!(
        r#"{provider}
variable "password" {{
  type      = string
  sensitive = true
  default   = "{password_default}"
}}

resource "aws_secretsmanager_secret" "producers" {{
  name                    = "{name}"
  description             = "what producers connect with"
  recovery_window_in_days = 0
}}

resource "aws_secretsmanager_secret_version" "producers" {{
  secret_id     = aws_secretsmanager_secret.producers.arn
  secret_string = jsonencode({{ bootstrap_servers = "{servers}", username = "orders", password = var.password }})
  visible_keys  = ["bootstrap_servers", "username"]
}}
"#,
        provider = provider_block("20ms")
    )
}

async fn secret_value(id: &str, stage: &str) -> (String, String) {
    let sm = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let value = sm
        .get_secret_value()
        .secret_id(id)
        .version_stage(stage)
        .send()
        .await
        .unwrap();
    (
        value.secret_string().unwrap().to_owned(),
        value.version_id().unwrap().to_owned(),
    )
}

#[test]
fn a_secret_flip_reads_back_rolls_back_and_never_shows_the_secret() {
    let h = Harness::new("secret-flip");
    let name = unique_name("prod/orders/kafka");
    let old_password = unique_name("OLD-pw-hunter2");
    let new_password = unique_name("NEW-pw-correct-horse");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut outputs = Vec::new();
    let mut step = |h: &Harness, args: &[&str], code: i32| -> String {
        let (actual, output) = h.cli(args);
        assert_eq!(actual, code, "cutover {args:?}:\n{output}");
        outputs.push(output.clone());
        output
    };

    h.write(&secret_config(&name, "legacy-1:9092", &old_password));
    step(&h, &["apply", "-auto-approve"], 0);
    let (value, first_version) = runtime.block_on(secret_value(&name, "AWSCURRENT"));
    let json: serde_json::Value = serde_json::from_str(&value).unwrap();
    assert_eq!(json["bootstrap_servers"], "legacy-1:9092");
    assert_eq!(json["password"], old_password.as_str());
    step(&h, &["plan", "-detailed-exitcode"], 0);

    // The flip: the plan names the keys that change and shows only the visible values.
    h.write(&secret_config(&name, "127.0.0.1:29092", &new_password));
    let shown = step(&h, &["plan", "-detailed-exitcode"], 2);
    assert!(
        shown.contains(r#"~ bootstrap_servers = "legacy-1:9092" -> "127.0.0.1:29092""#),
        "{shown}"
    );
    assert!(
        shown.contains("~ password          = (sensitive value)"),
        "{shown}"
    );
    assert!(
        !shown.contains("username"),
        "unchanged keys are hidden: {shown}"
    );
    snapshot(
        "secret_flip",
        &filtered(&shown, &[(name.as_str(), "[NAME]")]),
    );
    // The saved plan and its JSON and markdown forms hold no secret either.
    step(&h, &["plan", "-out", "flip.plan"], 0);
    let json = step(&h, &["show", "-json", "flip.plan"], 0);
    assert!(json.contains("\"secret_keys\""), "{json}");
    let markdown = step(&h, &["show", "-markdown", "flip.plan"], 0);
    assert!(
        markdown.contains("aws_secretsmanager_secret_version.producers"),
        "{markdown}"
    );
    step(&h, &["apply", "-auto-approve"], 0);
    let (value, second_version) = runtime.block_on(secret_value(&name, "AWSCURRENT"));
    assert_ne!(second_version, first_version);
    assert!(value.contains(&new_password) && value.contains("127.0.0.1:29092"));
    let (previous, previous_version) = runtime.block_on(secret_value(&name, "AWSPREVIOUS"));
    assert_eq!(previous_version, first_version);
    assert!(previous.contains(&old_password));

    // Rollback: AWSCURRENT goes back to the first version in one call; state records it.
    let (code, refused) = h.cli(&[
        "rollback",
        "aws_secretsmanager_secret.producers",
        "-auto-approve",
    ]);
    assert_eq!(code, 1, "{refused}");
    assert!(
        refused.contains("aws_secretsmanager_secret does not support rollback"),
        "{refused}"
    );
    let rolled = step(
        &h,
        &[
            "rollback",
            "aws_secretsmanager_secret_version.producers",
            "-auto-approve",
        ],
        0,
    );
    assert!(
        rolled.contains(&format!(
            "AWSCURRENT moved from version {second_version} back to {first_version}"
        )),
        "{rolled}"
    );
    let (value, current) = runtime.block_on(secret_value(&name, "AWSCURRENT"));
    assert_eq!(current, first_version);
    assert!(value.contains(&old_password) && value.contains("legacy-1:9092"));
    assert_eq!(
        runtime.block_on(secret_value(&name, "AWSPREVIOUS")).1,
        second_version
    );
    // A second rollback goes forward again (AWSPREVIOUS is the flipped version), a third back.
    for expected in [&second_version, &first_version] {
        step(
            &h,
            &[
                "rollback",
                "aws_secretsmanager_secret_version.producers",
                "-auto-approve",
            ],
            0,
        );
        assert_eq!(
            &runtime.block_on(secret_value(&name, "AWSCURRENT")).1,
            expected
        );
    }
    let shown_state = step(
        &h,
        &[
            "state",
            "show",
            "aws_secretsmanager_secret_version.producers",
        ],
        0,
    );
    assert!(
        shown_state.contains(&format!("version_id          = \"{first_version}\"")),
        "{shown_state}"
    );
    assert!(
        shown_state.contains(&format!("previous_version_id = \"{second_version}\"")),
        "{shown_state}"
    );

    // Configuration and live value now disagree: the plan says so until it is reverted.
    let shown = step(&h, &["plan", "-detailed-exitcode"], 2);
    assert!(
        shown.contains(r#"~ bootstrap_servers = "legacy-1:9092" -> "127.0.0.1:29092""#),
        "{shown}"
    );
    h.write(&secret_config(&name, "legacy-1:9092", &old_password));
    step(&h, &["plan", "-detailed-exitcode"], 0);

    // Every command that shows state, and the destroy.
    step(&h, &["show"], 0);
    step(&h, &["output"], 0);
    step(&h, &["destroy", "-auto-approve"], 0);
    let sm = runtime.block_on(async { aws_sdk_secretsmanager::Client::new(&aws_config().await) });
    let gone = runtime.block_on(sm.describe_secret().secret_id(&name).send());
    assert!(gone.is_err(), "the secret was deleted: {gone:?}");

    // Not a byte of either password in any output, the state or its backup.
    let state = h.state_text();
    let backup =
        std::fs::read_to_string(h.dir.join("cutover.state.json.backup")).unwrap_or_default();
    let saved_plan =
        String::from_utf8_lossy(&std::fs::read(h.dir.join("flip.plan")).unwrap()).into_owned();
    for (what, text) in outputs.iter().map(|o| ("output", o.as_str())).chain([
        ("state", state.as_str()),
        ("backup", backup.as_str()),
        ("saved plan", saved_plan.as_str()),
    ]) {
        for secret in [&old_password, &new_password] {
            assert!(
                !text.contains(secret.as_str()),
                "the {what} contains a password:\n{text}"
            );
            assert!(
                !text.contains("hunter2") && !text.contains("correct-horse"),
                "{what}:\n{text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_secrets_are_imported_by_name_and_by_arn() {
    let h = Harness::new("secret-import");
    let name = unique_name("prod/billing/kafka");
    let sm = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let created = sm
        .create_secret()
        .name(&name)
        .description("made by hand")
        .secret_string(r#"{"bootstrap_servers":"legacy-1:9092","password":"imported-SECRET"}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    h.write(&format!(
        r#"{provider}
import {{
  to = aws_secretsmanager_secret.billing
  id = "{name}"
}}

resource "aws_secretsmanager_secret" "billing" {{
  name        = "{name}"
  description = "made by hand"
}}

resource "aws_secretsmanager_secret_version" "billing" {{
  secret_id     = "{arn}"
  secret_string = jsonencode({{ bootstrap_servers = "legacy-1:9092", password = "imported-SECRET" }})
  visible_keys  = ["bootstrap_servers"]
}}
"#,
        provider = provider_block("20ms")
    ));
    // The version is adopted through the CLI by ARN first; the secret by name in the plan.
    let (code, output) = h.cli(&["import", "aws_secretsmanager_secret_version.billing", &arn]);
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("imported-SECRET"), "{output}");
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![("aws_secretsmanager_secret.billing".to_owned(), Action::NoOp)]
    );
    assert_eq!(planned.plan.counts().import, 1);
    h.apply_ok(planned).await;
    let secret = h.attributes("aws_secretsmanager_secret.billing").await;
    assert_eq!(text(&secret, "arn"), arn);
    let version = h
        .attributes("aws_secretsmanager_secret_version.billing")
        .await;
    assert_eq!(
        get(get(&version, "secret_keys"), "bootstrap_servers"),
        &Value::string("legacy-1:9092")
    );
    assert!(!h.state_text().contains("imported-SECRET"));
    // Imported as it is: nothing to change, nothing put.
    let planned = h.plan().await;
    assert!(!planned.plan.has_changes(), "{}", human(&planned));
    let versions = sm
        .list_secret_version_ids()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "no version was put");
    sm.delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// EC2 and the decommission guard

async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&aws_config().await)
}

/// Launches an instance in moto the way the legacy fleet was launched: by hand, with tags.
async fn launch(tags: &[(&str, &str)], subnet: Option<&str>, private_ip: Option<&str>) -> String {
    use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
    let mut specification = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (key, value) in tags {
        specification = specification.tags(Tag::builder().key(*key).value(*value).build());
    }
    let mut request = ec2()
        .await
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::M52xlarge)
        .min_count(1)
        .max_count(1)
        .tag_specifications(specification.build());
    if let Some(subnet) = subnet {
        request = request.subnet_id(subnet);
    }
    if let Some(ip) = private_ip {
        request = request.private_ip_address(ip);
    }
    let launched = request.send().await.unwrap();
    launched.instances()[0].instance_id().unwrap().to_owned()
}

async fn instance_state(id: &str) -> String {
    let described = ec2()
        .await
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    described.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_owned())
        .unwrap()
}

/// Creates a topic on the legacy broker.
async fn create_topic(topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", legacy_bootstrap())
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    results[0].as_ref().unwrap();
}

/// A producer writing a record every 20 ms to `topic` until stopped.
struct Producer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Producer {
    fn start(topic: &str) -> Self {
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
        let stop = Arc::new(AtomicBool::new(false));
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", legacy_bootstrap())
            .set("linger.ms", "0")
            .create()
            .unwrap();
        let (flag, topic) = (stop.clone(), topic.to_owned());
        let thread = std::thread::spawn(move || {
            let mut sent = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let payload = format!("order-{sent}");
                if producer
                    .send(BaseRecord::<(), _>::to(&topic).payload(&payload))
                    .is_ok()
                {
                    sent += 1;
                }
                producer.poll(Duration::from_millis(20));
            }
            producer.flush(Duration::from_secs(5)).unwrap();
            sent
        });
        Producer {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A consumer in `group` polling `topic` until stopped (the group stays active meanwhile).
struct GroupMember {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GroupMember {
    fn join(topic: &str, group: &str) -> Self {
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        let stop = Arc::new(AtomicBool::new(false));
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", legacy_bootstrap())
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let (flag, joined) = (stop.clone(), Arc::new(AtomicBool::new(false)));
        let seen = joined.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let _ = consumer.poll(Duration::from_millis(50));
                if consumer.assignment().is_ok_and(|a| a.count() > 0) {
                    seen.store(true, Ordering::Relaxed);
                }
            }
            consumer.unsubscribe();
        });
        let started = Instant::now();
        while !joined.load(Ordering::Relaxed) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the consumer never joined"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        GroupMember {
            stop,
            thread: Some(thread),
        }
    }

    fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn broker_config(id: &str, tag: &str, topic: &str, group: &str, with_instance: bool) -> String {
    let instance = if with_instance {
        format!(
            r#"
import {{
  to = aws_ec2_instance.broker
  id = "{id}"
}}

resource "aws_ec2_instance" "broker" {{
  stop_before_terminate = true
  decommission_guard {{
    cluster     = cluster.legacy
    observe_for = "2s"
    topics      = ["^{topic}$"]
    groups      = ["^{group}$"]
  }}
  timeouts {{
    delete = "1m"
  }}
}}
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{provider}
cluster "legacy" {{
  bootstrap_servers = ["{legacy}"]
}}

data "aws_ec2_instances" "legacy" {{
  instance_tags = {{
    Fleet = "{tag}"
  }}
}}

output "legacy_ids" {{
  value = data.aws_ec2_instances.legacy.ids
}}
{instance}"#,
        provider = provider_block("20ms"),
        legacy = legacy_bootstrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_brokers_are_adopted_and_terminated_only_once_the_cluster_is_quiet() {
    let h = Harness::new("ec2-guard");
    let tag = unique_name("legacy");
    let topic = unique_name("orders-events");
    let group = unique_name("billing");
    let id = launch(&[("Fleet", &tag), ("Role", "kafka-broker")], None, None).await;
    create_topic(&topic).await;

    // Adopted by import; the data source finds the fleet by its tags.
    h.write(&broker_config(&id, &tag, &topic, &group, true));
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![("aws_ec2_instance.broker".to_owned(), Action::NoOp)]
    );
    snapshot(
        "ec2_import",
        &filtered(
            &human(&planned),
            &[
                (tag.as_str(), "[TAG]"),
                (topic.as_str(), "[TOPIC]"),
                (group.as_str(), "[GROUP]"),
            ],
        ),
    );
    h.apply_ok(planned).await;
    let state = h.state().await;
    assert_eq!(
        state.outputs["legacy_ids"].to_value(),
        Value::List(vec![Value::string(&id)])
    );
    let broker = h.attributes("aws_ec2_instance.broker").await;
    assert_eq!(text(&broker, "instance_state"), "running");
    assert_eq!(text(&broker, "instance_type"), "m5.2xlarge");
    assert!(text(&broker, "availability_zone").starts_with("us-east-1"));
    assert!(!text(&broker, "private_ip").is_empty());
    let volumes = get(&broker, "volumes").as_items().unwrap();
    assert!(
        text(&volumes[0], "volume_id").starts_with("vol-"),
        "{broker}"
    );
    assert_eq!(
        get(get(&broker, "decommission_guard"), "cluster"),
        &Value::string("cluster.legacy"),
        "the guard's cluster is stored by address"
    );
    let planned = h.plan().await;
    assert!(!planned.plan.has_changes(), "{}", human(&planned));

    // Decommission = remove the block. While a producer writes, the guard refuses.
    h.write(&broker_config(&id, &tag, &topic, &group, false));
    let producer = Producer::start(&topic);
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![("aws_ec2_instance.broker".to_owned(), Action::Delete)]
    );
    snapshot(
        "ec2_decommission",
        &filtered(
            &human(&planned),
            &[
                (tag.as_str(), "[TAG]"),
                (topic.as_str(), "[TOPIC]"),
                (group.as_str(), "[GROUP]"),
            ],
        ),
    );
    let report = h.apply(planned).await;
    let Outcome::Failed(message) = &report.outcomes[0].2 else {
        panic!("the termination was not refused: {report:?}");
    };
    assert!(
        message.starts_with(&format!(
            "refusing to terminate {id}: the decommission guard found the cluster still in use: cluster.legacy: "
        )),
        "{message}"
    );
    assert!(message.contains(&format!("{topic}[0]")), "{message}");
    assert_eq!(instance_state(&id).await, "running");
    assert!(producer.stop() > 0);

    // Producers stopped, but a consumer group is still active: still refused.
    let member = GroupMember::join(&topic, &group);
    let report = h.apply(h.plan().await).await;
    let Outcome::Failed(message) = &report.outcomes[0].2 else {
        panic!("the termination was not refused: {report:?}");
    };
    assert!(
        message.contains(&format!(
            "1 consumer group is still active: {group} (Stable, 1 member)"
        )),
        "{message}"
    );
    assert!(
        message.contains("no writes to its 1 partitions"),
        "{message}"
    );
    member.leave();

    // Quiet: stopped first, then terminated.
    let report = h.apply(h.plan().await).await;
    assert!(!report.failed(), "{report:?}\n{}", h.log_text());
    let log = h.log_text();
    assert!(
        log.contains("decommission check passed: cluster.legacy: no writes"),
        "{log}"
    );
    assert!(
        log.contains(&format!("stopping {id} before terminating it")),
        "{log}"
    );
    assert_eq!(instance_state(&id).await, "terminated");
    assert!(
        h.state()
            .await
            .resource_by_display("aws_ec2_instance.broker")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unguarded_broker_of_a_cluster_in_use_is_not_terminated() {
    let h = Harness::new("ec2-unguarded");
    let topic = unique_name("payments");
    create_topic(&topic).await;
    // The instance's private address is the legacy broker's (moto lets a VPC use 127/8).
    let client = ec2().await;
    let vpc = client
        .create_vpc()
        .cidr_block("127.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let subnet = client
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("127.0.0.0/24")
        .send()
        .await
        .unwrap();
    let subnet_id = subnet.subnet().unwrap().subnet_id().unwrap().to_owned();
    let host = legacy_bootstrap().rsplit_once(':').unwrap().0.to_owned();
    let id = launch(&[("Role", "kafka-broker")], Some(&subnet_id), Some(&host)).await;
    let config = |legacy: &str, with_instance: bool| {
        let instance = if with_instance {
            format!(
                "import {{\n  to = aws_ec2_instance.broker\n  id = \"{id}\"\n}}\n\nresource \"aws_ec2_instance\" \"broker\" {{\n}}\n"
            )
        } else {
            String::new()
        };
        format!(
            "{}cluster \"legacy\" {{\n  bootstrap_servers = [\"{legacy}\"]\n  timeout           = \"3s\"\n}}\n\n{instance}",
            provider_block("20ms")
        )
    };
    h.write(&config(&legacy_bootstrap(), true));
    h.apply_ok(h.plan().await).await;
    assert_eq!(
        text(&h.attributes("aws_ec2_instance.broker").await, "private_ip"),
        host
    );

    let producer = Producer::start(&topic);
    h.write(&config(&legacy_bootstrap(), false));
    let report = h.apply(h.plan().await).await;
    producer.stop();
    let Outcome::Failed(message) = &report.outcomes[0].2 else {
        panic!("the termination was not refused: {report:?}");
    };
    assert!(
        message.starts_with(&format!(
            "refusing to terminate {id}: it is a broker of cluster.legacy, which is still in use: cluster.legacy: "
        )),
        "{message}"
    );
    assert!(
        message.contains("add a decommission_guard block"),
        "{message}"
    );
    assert_eq!(instance_state(&id).await, "running");

    // Once the cluster is unreachable (its brokers already down), the instance may go.
    h.write(&config(&format!("{host}:1"), false));
    let report = h.apply(h.plan().await).await;
    assert!(!report.failed(), "{report:?}\n{}", h.log_text());
    assert!(
        h.log_text().contains("cluster.legacy is unreachable"),
        "{}",
        h.log_text()
    );
    assert_eq!(instance_state(&id).await, "terminated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_can_be_created_retyped_retagged_and_destroyed() {
    let h = Harness::new("ec2-create");
    let tag = unique_name("scratch");
    let config = |kind: &str, owner: &str| {
        format!(
            r#"{provider}
resource "aws_ec2_instance" "scratch" {{
  ami                   = "ami-12c6146b"
  instance_type         = "{kind}"
  stop_before_terminate = true
  tags = {{
    Name  = "{tag}"
    Owner = "{owner}"
  }}
}}
"#,
            provider = provider_block("20ms")
        )
    };
    h.write(&config("t3.micro", "data"));
    h.apply_ok(h.plan().await).await;
    let instance = h.attributes("aws_ec2_instance.scratch").await;
    let id = text(&instance, "id");
    assert_eq!(text(&instance, "instance_state"), "running");
    assert!(!h.plan().await.plan.has_changes());

    h.write(&config("t3.large", "platform"));
    let planned = h.plan().await;
    assert_eq!(
        actions(&planned),
        vec![("aws_ec2_instance.scratch".to_owned(), Action::Update)]
    );
    h.apply_ok(planned).await;
    assert!(
        h.log_text()
            .contains(&format!("stopping {id} to change its type to t3.large"))
    );
    let instance = h.attributes("aws_ec2_instance.scratch").await;
    assert_eq!(text(&instance, "id"), id);
    assert_eq!(text(&instance, "instance_type"), "t3.large");
    assert_eq!(text(&instance, "instance_state"), "running");
    assert_eq!(text(get(&instance, "tags"), "Owner"), "platform");
    assert!(!h.plan().await.plan.has_changes());

    let planned = h
        .plan_with(PlanOptions {
            mode: PlanMode::Destroy,
            ..PlanOptions::default()
        })
        .await;
    h.apply_ok(planned).await;
    assert!(
        h.log_text()
            .contains(&format!("stopping {id} before terminating it"))
    );
    assert_eq!(instance_state(&id).await, "terminated");

    // Creating needs an image: an adopted instance's block without one says how to import.
    h.write(&format!(
        "{}resource \"aws_ec2_instance\" \"nothing\" {{\n}}\n",
        provider_block("20ms")
    ));
    let report = h.apply(h.plan().await).await;
    let Outcome::Failed(message) = &report.outcomes[0].2 else {
        panic!("{report:?}")
    };
    assert_eq!(
        message,
        "creating an aws_ec2_instance needs ami and instance_type; to adopt an existing instance, import it by id instead"
    );
}

// ---------------------------------------------------------------------------------------------
// S3 state backend

async fn state_bucket() -> String {
    let bucket = unique_name("cutover-state").to_lowercase();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws_config().await)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    bucket
}

fn s3_settings(bucket: &str) -> S3Settings {
    S3Settings::from_value(&Value::Map(
        [
            ("bucket".to_owned(), Value::string(bucket)),
            ("key".to_owned(), Value::string("orders/cutover.state.json")),
            ("region".to_owned(), Value::string("us-east-1")),
            ("endpoint_url".to_owned(), Value::string(moto_endpoint())),
        ]
        .into(),
    ))
    .unwrap()
}

#[test]
fn the_s3_backend_keeps_state_versions_and_a_conditional_lock() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bucket = runtime.block_on(state_bucket());
    let dir = std::env::temp_dir().join(unique_name("cutover-aws-s3"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |input: &str| {
        format!(
            r#"cutover {{
  backend "s3" {{
    bucket       = "{bucket}"
    key          = "orders/cutover.state.json"
    region       = "us-east-1"
    endpoint_url = "{}"
  }}
}}

resource "cutover_data" "marker" {{
  input = "{input}"
}}
"#,
            moto_endpoint()
        )
    };
    std::fs::write(dir.join("main.hcl"), config("one")).unwrap();
    let (code, output) = run_cli(&dir, &["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{output}");
    std::fs::write(dir.join("main.hcl"), config("two")).unwrap();
    let (code, output) = run_cli(&dir, &["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{output}");
    assert!(!dir.join("cutover.state.json").exists(), "no local state");

    let backend = Arc::new(S3Backend::new(s3_settings(&bucket)));
    let state = runtime
        .block_on(backend.read())
        .unwrap()
        .expect("state in S3");
    let serial = state.serial;
    assert!(serial >= 2, "{serial}");
    assert_eq!(
        get(&state.resources[0].attributes_value(), "output"),
        &Value::string("two")
    );
    let s3 = runtime.block_on(async {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws_config().await)
                .force_path_style(true)
                .build(),
        )
    });
    let versions = runtime
        .block_on(
            s3.list_object_versions()
                .bucket(&bucket)
                .prefix("orders/cutover.state.json")
                .send(),
        )
        .unwrap();
    let state_versions = versions
        .versions()
        .iter()
        .filter(|v| v.key() == Some("orders/cutover.state.json"))
        .count();
    assert_eq!(state_versions as u64, serial, "each write is a version");

    // A run holding the lock blocks another, which names the holder; force-unlock frees it.
    let held = runtime
        .block_on(backend.lock("apply", Duration::ZERO))
        .unwrap();
    let (code, output) = run_cli(&dir, &["plan"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("state is locked"), "{output}");
    assert!(
        output.contains(&format!("s3://{bucket}/orders/cutover.state.json.lock")),
        "{output}"
    );
    assert!(
        output.contains(&format!("cutover force-unlock {}", held.id)),
        "{output}"
    );
    let (code, output) = run_cli(&dir, &["force-unlock", &held.id, "-force"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(runtime.block_on(backend.lock_holder()).unwrap(), None);
    let (code, output) = run_cli(&dir, &["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "{output}");

    // The run that lost its lock to force-unlock cannot release the new holder's lock.
    let theirs = runtime
        .block_on(backend.lock("plan", Duration::ZERO))
        .unwrap();
    let error = runtime.block_on(backend.unlock(&held.id)).unwrap_err();
    assert!(
        matches!(error, StateError::LockIdMismatch { .. }),
        "{error}"
    );
    runtime.block_on(backend.unlock(&theirs.id)).unwrap();

    // Racing runs: exactly one takes the lock.
    let attempts: Vec<LockAttempt> = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..8 {
            let backend = Arc::new(S3Backend::new(s3_settings(&bucket)));
            tasks.spawn(async move {
                let info =
                    LockInfo::for_this_process(&format!("racer-{index}"), &backend.location())
                        .unwrap();
                backend.try_lock(&info).await.unwrap()
            });
        }
        tasks.join_all().await
    });
    let winners = attempts
        .iter()
        .filter(|a| **a == LockAttempt::Acquired)
        .count();
    assert_eq!(winners, 1, "{attempts:?}");
    let holder = runtime.block_on(backend.lock_holder()).unwrap().unwrap();
    assert!(attempts.iter().all(|a| match a {
        LockAttempt::Acquired => true,
        LockAttempt::HeldBy(info) => info.id == holder.id,
        LockAttempt::HeldUnreadable(_) => false,
    }));
    runtime.block_on(backend.force_unlock(&holder.id)).unwrap();

    // A writer that read an older state cannot overwrite a newer one.
    let mut stale = state.clone();
    stale.serial = serial + 1;
    let error = runtime
        .block_on(backend.write(
            &stale,
            Some(&cutover::state::StateStamp {
                lineage: state.lineage.clone(),
                serial: serial - 1,
            }),
        ))
        .unwrap_err();
    assert!(matches!(error, StateError::StaleWrite { .. }), "{error}");

    // A guard dropped without unlocking (a failed command) still releases the lock.
    runtime.block_on(async {
        let backend: Arc<dyn Backend> = backend.clone();
        let guard = LockGuard::acquire(backend.clone(), "apply", Duration::ZERO)
            .await
            .unwrap();
        drop(guard);
        assert_eq!(backend.lock_holder().await.unwrap(), None);
    });

    // A backend block with a mistake is reported with its position.
    std::fs::write(
        dir.join("main.hcl"),
        format!("cutover {{\n  backend \"s3\" {{\n    bucket = \"{bucket}\"\n  }}\n}}\n"),
    )
    .unwrap();
    let (code, output) = run_cli(&dir, &["plan"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("missing required argument \"key\" in backend \"s3\""),
        "{output}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// A new symmetric KMS key in moto.
async fn kms_key() -> String {
    let kms = aws_sdk_kms::Client::new(&aws_config().await);
    kms.create_key()
        .description("cutover test")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

/// The S3 backend asks for server-side encryption on every write of the state and the lock:
/// SSE-S3 by default, SSE-KMS with the configured key when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_state_and_lock_are_written_with_server_side_encryption() {
    use aws_sdk_s3::types::ServerSideEncryption as Sse;
    let bucket = state_bucket().await;
    let s3 = s3_client(&aws_config().await);
    let encryption_of = |key: &'static str| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            let head = s3
                .head_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            (
                head.server_side_encryption().cloned(),
                head.ssekms_key_id().map(str::to_owned),
            )
        }
    };

    let backend = S3Backend::new(s3_settings(&bucket));
    let mut state = State::with_lineage("lineage-sse");
    state.serial = 1;
    backend.write(&state, None).await.unwrap();
    let lock = backend.lock("apply", Duration::ZERO).await.unwrap();
    assert_eq!(
        encryption_of("orders/cutover.state.json").await,
        (Some(Sse::Aes256), None)
    );
    assert_eq!(
        encryption_of("orders/cutover.state.json.lock").await,
        (Some(Sse::Aes256), None)
    );
    backend.unlock(&lock.id).await.unwrap();

    let key_arn = kms_key().await;
    let mut settings = s3_settings(&bucket);
    settings.server_side_encryption = cutover::state::s3::ServerSideEncryption::Kms {
        key_id: Some(key_arn.clone()),
    };
    let backend = S3Backend::new(settings);
    let mut next = state.clone();
    next.serial = 2;
    backend.write(&next, Some(&state.stamp())).await.unwrap();
    let lock = backend.lock("apply", Duration::ZERO).await.unwrap();
    let (sse, key) = encryption_of("orders/cutover.state.json").await;
    assert_eq!(sse, Some(Sse::AwsKms));
    assert!(
        key.as_deref()
            .is_some_and(|key| key_arn.ends_with(key) || key == key_arn),
        "{key:?}"
    );
    assert_eq!(
        encryption_of("orders/cutover.state.json.lock").await.0,
        Some(Sse::AwsKms)
    );
    backend.unlock(&lock.id).await.unwrap();
    assert_eq!(backend.read().await.unwrap(), Some(next));
}

#[test]
fn s3_backend_encryption_settings_are_checked_where_they_are_written() {
    let dir = std::env::temp_dir().join(unique_name("cutover-aws-sse"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |settings: &str| {
        format!(
            "cutover {{\n  backend \"s3\" {{\n    bucket = \"b\"\n    key    = \"k\"\n{settings}  }}\n}}\n"
        )
    };
    std::fs::write(
        dir.join("main.hcl"),
        config("    kms_key_id = \"alias/state\"\n"),
    )
    .unwrap();
    let (code, output) = run_cli(&dir, &["plan"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("main.hcl:5:")
            && output
                .contains("\"kms_key_id\" applies only when server_side_encryption = \"aws:kms\""),
        "{output}"
    );
    std::fs::write(
        dir.join("main.hcl"),
        config("    server_side_encryption = \"aws:kmss\"\n"),
    )
    .unwrap();
    let (code, output) = run_cli(&dir, &["plan"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("main.hcl:5:") && output.contains("aws:kms"),
        "{output}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// State, backup and saved plan encrypted with a KMS key (moto's KMS): only the KMS-encrypted
/// data key is stored, every command reads them back with the key configured, none without.
#[test]
fn state_and_plan_files_are_encrypted_with_a_kms_key() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let key_arn = runtime.block_on(kms_key());
    let dir = std::env::temp_dir().join(unique_name("cutover-aws-kms"));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str], kms_key: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
        command
            .args(args)
            .current_dir(&dir)
            .env("CUTOVER_STATE_KEY", STATE_KEY_HEX)
            .env_remove("CUTOVER_STATE_KEY_FILE")
            .env_remove("CUTOVER_ENCRYPTION_KEY")
            .env_remove("CUTOVER_ENCRYPTION_KEY_FILE")
            .env("AWS_ENDPOINT_URL_KMS", moto_endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        match kms_key {
            Some(key) => command.env("CUTOVER_ENCRYPTION_KMS_KEY_ID", key),
            None => command.env_remove("CUTOVER_ENCRYPTION_KMS_KEY_ID"),
        };
        let output = command.output().expect("run cutover");
        (
            output.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let config = |input: &str| {
        format!(
            "variable \"label\" {{\n  default = \"kms-plaintext-marker-{input}\"\n}}\n\nresource \"cutover_data\" \"marker\" {{\n  input = var.label\n}}\n"
        )
    };
    std::fs::write(dir.join("main.hcl"), config("one")).unwrap();
    let (code, output) = run(&["apply", "-auto-approve"], Some(&key_arn));
    assert_eq!(code, 0, "{output}");
    std::fs::write(dir.join("main.hcl"), config("two")).unwrap();
    let (code, output) = run(&["plan", "-out", "two.plan"], Some(&key_arn));
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains(&format!("encrypted with key kms:{key_arn}")),
        "{output}"
    );
    let (code, output) = run(&["apply", "two.plan"], Some(&key_arn));
    assert_eq!(code, 0, "{output}");

    for name in [
        "cutover.state.json",
        "cutover.state.json.backup",
        "two.plan",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!text.contains("kms-plaintext-marker"), "{name}: {text}");
        let envelope: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(envelope["kms_key_arn"], key_arn.as_str(), "{name}");
        assert!(
            envelope["encrypted_data_key"]
                .as_str()
                .is_some_and(|key| key.len() > 40),
            "{name}: {text}"
        );
    }
    let (code, output) = run(&["output", "-json"], Some(&key_arn));
    assert_eq!(code, 0, "{output}");
    let (code, output) = run(&["show"], Some(&key_arn));
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("kms-plaintext-marker-two"), "{output}");

    // Without the key, or with KMS out of reach, nothing is read and the message says why.
    let (code, output) = run(&["show"], None);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains(&format!("encrypted with the AWS KMS key {key_arn}"))
            && output.contains("set CUTOVER_ENCRYPTION_KMS_KEY_ID"),
        "{output}"
    );
    assert!(!output.contains("kms-plaintext-marker"), "{output}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_msk_cluster_is_read_by_arn_and_by_name() {
    let h = Harness::new("msk-existing");
    let name = unique_name("existing");
    h.write(&format!(
        r#"{provider}
resource "aws_msk_cluster" "existing" {{
  cluster_name           = "{name}"
  kafka_version          = "3.9.x"
  number_of_broker_nodes = 3
  broker_node_group_info {{
    instance_type  = "kafka.m5.large"
    client_subnets = ["subnet-a", "subnet-b", "subnet-c"]
  }}
  client_authentication {{
    sasl_iam = true
  }}
}}
"#,
        provider = provider_block("20ms")
    ));
    h.apply_ok(h.plan().await).await;
    let cluster = h.attributes("aws_msk_cluster.existing").await;
    let arn = text(&cluster, "arn");

    // Another workspace, as the migration module would: the cluster by ARN and by name.
    let reader = Harness::new("msk-existing-data");
    reader.write(&format!(
        r#"{provider}
variable "existing_cluster_arn" {{
  type = string
}}

data "aws_msk_cluster" "by_arn" {{
  arn = var.existing_cluster_arn
}}

data "aws_msk_cluster" "by_name" {{
  cluster_name = "{name}"
}}

output "by_arn" {{
  value = {{
    cluster_name                 = data.aws_msk_cluster.by_arn.cluster_name
    state                        = data.aws_msk_cluster.by_arn.state
    kafka_version                = data.aws_msk_cluster.by_arn.kafka_version
    number_of_broker_nodes       = data.aws_msk_cluster.by_arn.number_of_broker_nodes
    current_version              = data.aws_msk_cluster.by_arn.current_version
    bootstrap_brokers            = data.aws_msk_cluster.by_arn.bootstrap_brokers
    bootstrap_brokers_sasl_iam   = data.aws_msk_cluster.by_arn.bootstrap_brokers_sasl_iam
    bootstrap_brokers_sasl_scram = data.aws_msk_cluster.by_arn.bootstrap_brokers_sasl_scram
  }}
}}

output "by_name" {{
  value = {{
    arn                        = data.aws_msk_cluster.by_name.arn
    bootstrap_brokers          = data.aws_msk_cluster.by_name.bootstrap_brokers
    bootstrap_brokers_sasl_iam = data.aws_msk_cluster.by_name.bootstrap_brokers_sasl_iam
  }}
}}
"#,
        provider = provider_block("20ms")
    ));
    let arn_var = format!("existing_cluster_arn={arn}");
    let (code, output) = reader.cli(&["apply", "-auto-approve", "-var", &arn_var]);
    assert_eq!(code, 0, "{output}");
    let (code, output) = reader.cli(&["output", "-json"]);
    assert_eq!(code, 0, "{output}");
    let outputs: serde_json::Value = serde_json::from_str(&output).expect("json");
    let by_arn = &outputs["by_arn"]["value"];
    assert_eq!(by_arn["cluster_name"], name.as_str());
    assert_eq!(by_arn["state"], "ACTIVE");
    assert_eq!(by_arn["kafka_version"], "3.9.x");
    assert_eq!(by_arn["number_of_broker_nodes"], 3);
    assert_eq!(by_arn["current_version"], text(&cluster, "current_version"));
    for attribute in [
        "bootstrap_brokers",
        "bootstrap_brokers_sasl_iam",
        "bootstrap_brokers_sasl_scram",
    ] {
        assert_eq!(
            by_arn[attribute],
            text(&cluster, attribute),
            "{attribute}: {outputs}"
        );
    }
    let by_name = &outputs["by_name"]["value"];
    assert_eq!(by_name["arn"], arn.as_str());
    assert_eq!(
        by_name["bootstrap_brokers"],
        text(&cluster, "bootstrap_brokers")
    );
    assert_eq!(
        by_name["bootstrap_brokers_sasl_iam"],
        text(&cluster, "bootstrap_brokers_sasl_iam")
    );

    // A cluster that does not exist is named in the error, and the command fails with 1.
    let missing = format!(
        "arn:aws:kafka:us-east-1:123456789012:cluster/{name}-missing/00000000-0000-0000-0000-000000000000-1"
    );
    let (code, output) = reader.cli(&["plan", "-var", &format!("existing_cluster_arn={missing}")]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains(&format!(
            "reading data.aws_msk_cluster.by_arn: MSK cluster {missing} not found in us-east-1"
        )),
        "{output}"
    );

    let planned = h
        .plan_with(PlanOptions {
            mode: PlanMode::Destroy,
            ..PlanOptions::default()
        })
        .await;
    h.apply_ok(planned).await;
}

/// A fleet found by tags is adopted with `instance_id` (nothing launched, nothing changed on
/// it); an id that does not exist is a clear error and nothing is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_found_by_tags_are_adopted_with_instance_id_and_a_missing_one_is_refused() {
    let h = Harness::new("ec2-adopt");
    let tag = unique_name("fleet");
    let first = launch(&[("Fleet", &tag)], None, None).await;
    let second = launch(&[("Fleet", &tag)], None, None).await;
    h.write(&format!(
        "{}data \"aws_ec2_instances\" \"fleet\" {{\n  instance_tags = {{ Fleet = \"{tag}\" }}\n}}\n\
         resource \"aws_ec2_instance\" \"fleet\" {{\n  for_each    = data.aws_ec2_instances.fleet.instances\n  instance_id = each.key\n}}\n",
        provider_block("1s")
    ));
    let (code, output) = h.cli(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{output}");
    for id in [&first, &second] {
        let adopted = h
            .attributes(&format!("aws_ec2_instance.fleet[\"{id}\"]"))
            .await;
        assert_eq!(text(&adopted, "id"), *id);
        assert_eq!(text(&adopted, "instance_type"), "m5.2xlarge");
        assert_eq!(instance_state(id).await, "running");
    }
    // Still the two instances: adopting launched nothing.
    let described = ec2()
        .await
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Fleet")
                .values(&tag)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let count: usize = described
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    assert_eq!(count, 2);
    let (code, output) = h.cli(&["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "adoption leaves nothing to do:\n{output}");

    let missing = Harness::new("ec2-adopt-missing");
    missing.write(&format!(
        "{}resource \"aws_ec2_instance\" \"gone\" {{\n  instance_id = \"i-0000000000000dead\"\n}}\n",
        provider_block("1s")
    ));
    let (code, output) = missing.cli(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("cannot adopt EC2 instance i-0000000000000dead: it does not exist"),
        "{output}"
    );
    assert!(
        !missing.state_text().contains("i-0000000000000dead\","),
        "{}",
        missing.state_text()
    );
}
