//! Issue 21, "wrong or lost messages": warnings an operator must see are printed, a failed
//! lock release does not hide the plan's own errors, a saved plan's variables are replayed as
//! values, and `apply` of a configuration of assertions alone checks them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::config::value::Value;
use cutover::state::{Backend as _, S3Backend, S3Settings};

use crate::support::{
    Workspace, aws_config, legacy_bootstrap, moto_endpoint, target_bootstrap, unique_name,
};

async fn state_bucket() -> String {
    let bucket = unique_name("cutover-lock").to_lowercase();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws_config().await)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

/// The plan's lock is taken away while it runs (force-unlocked and taken by another run): the
/// plan still prints its own error (an unreachable cluster), then says the lock was not
/// released, and fails.
#[test]
fn a_plan_whose_lock_release_fails_prints_its_own_errors_and_the_lock_warning() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bucket = runtime.block_on(state_bucket());
    let workspace = Workspace::new("lost-lock");
    workspace.write(
        "main.hcl",
        &format!(
            r#"cutover {{
  backend "s3" {{
    bucket       = "{bucket}"
    key          = "lost/cutover.state.json"
    region       = "us-east-1"
    endpoint_url = "{moto}"
  }}
}}

cluster "gone" {{
  bootstrap_servers = ["127.0.0.1:1"]
  timeout           = "4s"
}}

data "kafka_topics" "gone" {{
  cluster = cluster.gone
}}
"#,
            moto = moto_endpoint()
        ),
    );
    let backend = Arc::new(S3Backend::new(
        S3Settings::from_value(&Value::Map(
            [
                ("bucket".to_owned(), Value::string(&bucket)),
                ("key".to_owned(), Value::string("lost/cutover.state.json")),
                ("region".to_owned(), Value::string("us-east-1")),
                ("endpoint_url".to_owned(), Value::string(moto_endpoint())),
            ]
            .into(),
        ))
        .unwrap(),
    ));
    let dir = workspace.dir.clone();
    let plan = std::thread::spawn(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("plan")
            .current_dir(&dir)
            .env("CUTOVER_STATE_KEY", crate::support::STATE_KEY)
            .env("NO_COLOR", "1")
            .output()
            .expect("run cutover");
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    });
    // While the plan waits on the unreachable cluster, its lock is broken and taken.
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = loop {
        if let Some(holder) = runtime.block_on(backend.lock_holder()).unwrap() {
            break holder;
        }
        assert!(Instant::now() < deadline, "the plan never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    };
    runtime.block_on(backend.force_unlock(&holder.id)).unwrap();
    let intruder = runtime
        .block_on(backend.lock("apply", Duration::ZERO))
        .unwrap();
    let (code, output) = plan.join().unwrap();
    runtime.block_on(backend.unlock(&intruder.id)).unwrap();

    assert_eq!(code, Some(1), "{output}");
    let own_error = output
        .find("cannot reach the cluster")
        .unwrap_or_else(|| panic!("the plan's own error is missing:\n{output}"));
    let lock_error = output
        .find("the state lock was not released")
        .unwrap_or_else(|| panic!("the lock warning is missing:\n{output}"));
    assert!(own_error < lock_error, "{output}");
    assert!(
        output.contains(&format!("cutover force-unlock {}", holder.id)),
        "{output}"
    );
}

/// `-var` values holding `${` and `%{` (written escaped on the command line) are saved as
/// values and replayed as values: `apply FILE` neither re-reads them as templates nor
/// complains about a `-var` the user never passed.
#[test]
fn a_saved_plan_replays_a_list_variable_holding_template_sequences_literally() {
    let workspace = Workspace::new("saved-template-var");
    workspace.write(
        "main.hcl",
        r#"variable "items" {
  type = list(string)
}

variable "labels" {
  type = map(string)
}

resource "cutover_data" "items" {
  input = { items = var.items, labels = var.labels }
}

output "items" {
  value = cutover_data.items.output
}
"#,
    );
    workspace.expect(
        &[
            "plan",
            "-out",
            "saved.plan",
            "-var",
            r#"items=["$${x}", "%%{y}", "plain"]"#,
            "-var",
            r#"labels={ a = "$${z}" }"#,
        ],
        0,
    );
    let applied = workspace.expect(&["apply", "saved.plan"], 0);
    assert!(applied.contains("Apply complete!"), "{applied}");
    let output = workspace.expect(&["output", "-json"], 0);
    let output: serde_json::Value = serde_json::from_str(&output).expect("output -json");
    assert_eq!(
        output["items"]["value"],
        serde_json::json!({ "items": ["${x}", "%{y}", "plain"], "labels": { "a": "${z}" } }),
        "{output}"
    );
}

fn assertions_only(bounds: &str) -> String {
    format!(
        r#"cluster "source" {{
  bootstrap_servers = ["{legacy}"]
}}

cluster "target" {{
  bootstrap_servers = ["{target}"]
}}

assert "target_load" {{
  timeout = "1s"
  throughput {{
    cluster            = cluster.target
    {bounds}
    duration           = "1s"
    rate_mb_per_s      = 1
    partitions         = 1
    replication_factor = 1
  }}
}}
"#,
        legacy = legacy_bootstrap(),
        target = target_bootstrap()
    )
}

/// A configuration of assertions alone is a CI gate: `apply` checks them (as `verify` does)
/// and fails, with the exit code of a failed assertion, when one does not hold.
#[test]
fn apply_of_assertions_alone_checks_them_and_fails_when_one_does_not_hold() {
    let workspace = Workspace::new("apply-assertions-only");
    workspace.write("main.hcl", &assertions_only("min_mb_per_s = 0.01"));
    let held = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(held.contains("1 assertion to check"), "{held}");
    assert!(
        held.contains("assert.target_load: holds: throughput: "),
        "{held}"
    );
    assert!(held.contains("Assertions: 1 held."), "{held}");

    // A bound no load can meet (a 1 MB/s cap rules out a minimum above it at validate time).
    workspace.write("main.hcl", &assertions_only("max_p99_ms = 0.001"));
    let failed = workspace.expect(&["apply", "-auto-approve"], 3);
    assert!(
        failed.contains("assertion failed  assert.target_load: throughput: p99 latency "),
        "{failed}"
    );
    assert!(
        failed.contains("error: apply stopped: an assertion did not hold"),
        "{failed}"
    );
}
