//! `aws_msk_scram_secret_association` against moto (env/moto_server.py emulates the SCRAM
//! secret calls with MSK's refusals): a secret made with a customer-managed KMS key is
//! associated with an MSK cluster and shown in the plan, its value never printed or stored;
//! a secret on the default key is refused at plan time; one associated outside cutover is
//! drift; destroy disassociates. Checked with an independent SDK client.

use crate::support::{Workspace, aws_config, moto_endpoint, unique_name};

const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0b5c7f6e-1111-2222-3333-444455556666";

fn config(name: &str, kms_key: Option<&str>) -> String {
    let key = kms_key.map_or(String::new(), |key| format!("  kms_key_id = \"{key}\"\n"));
    format!(
        r#"
provider "aws" {{
  region        = "us-east-1"
  endpoint_url  = "{endpoint}"
  poll_interval = "20ms"
}}

resource "aws_msk_cluster" "target" {{
  cluster_name           = "{name}"
  kafka_version          = "3.9.x"
  number_of_broker_nodes = 3
  broker_node_group_info {{
    instance_type  = "kafka.m5.large"
    client_subnets = ["subnet-a", "subnet-b", "subnet-c"]
    storage_gb     = 100
  }}
  client_authentication {{
    sasl_scram = true
  }}
}}

resource "aws_secretsmanager_secret" "app" {{
  name                    = "AmazonMSK_{name}"
  recovery_window_in_days = 0
{key}}}

resource "aws_secretsmanager_secret_version" "app" {{
  secret_id     = aws_secretsmanager_secret.app.arn
  secret_string = jsonencode({{ username = "app", password = "app-scram-password" }})
}}

resource "aws_msk_scram_secret_association" "target" {{
  cluster_arn     = aws_msk_cluster.target.arn
  secret_arn_list = [aws_secretsmanager_secret.app.arn]
  depends_on      = [aws_secretsmanager_secret_version.app]
}}
"#,
        endpoint = moto_endpoint()
    )
}

async fn associated(cluster_arn: &str) -> Vec<String> {
    let kafka = aws_sdk_kafka::Client::new(&aws_config().await);
    kafka
        .list_scram_secrets()
        .cluster_arn(cluster_arn)
        .send()
        .await
        .expect("list scram secrets")
        .secret_arn_list()
        .to_vec()
}

fn cluster_arn(workspace: &Workspace) -> String {
    let state: serde_json::Value = serde_json::from_str(&workspace.state_text()).expect("state");
    let text = state.to_string();
    let start = text.find("arn:aws:kafka:").expect("a cluster ARN in state");
    text[start..]
        .split('"')
        .next()
        .expect("ARN")
        .trim_end_matches('\\')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_secrets_are_associated_with_the_msk_cluster_and_shown_in_the_plan() {
    let name = unique_name("scram");
    let workspace = Workspace::new("scram");
    workspace.write("main.hcl", &config(&name, Some(KMS_KEY)));
    let plan = workspace.expect(&["plan"], 0);
    assert!(
        plan.contains("aws_msk_scram_secret_association.target will be created"),
        "{plan}"
    );
    assert!(plan.contains("secret_arn_list"), "{plan}");
    assert!(
        !plan.contains("app-scram-password"),
        "the secret's value is printed: {plan}"
    );
    let applied = workspace.expect(&["apply", "-auto-approve"], 0);
    assert!(!applied.contains("app-scram-password"), "{applied}");
    assert!(!workspace.state_text().contains("app-scram-password"));
    let arn = cluster_arn(&workspace);
    let secrets = associated(&arn).await;
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert!(
        secrets[0].contains(&format!(":secret:AmazonMSK_{name}")),
        "{secrets:?}"
    );
    let replan = workspace.expect(&["plan", "-detailed-exitcode"], 0);
    assert!(replan.contains("No changes"), "{replan}");

    // A secret associated outside cutover is drift, and the plan removes it.
    let sdk = aws_config().await;
    let other = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("AmazonMSK_{name}-other"))
        .kms_key_id(KMS_KEY)
        .secret_string("{}")
        .send()
        .await
        .expect("secret")
        .arn()
        .expect("arn")
        .to_owned();
    aws_sdk_kafka::Client::new(&sdk)
        .batch_associate_scram_secret()
        .cluster_arn(&arn)
        .secret_arn_list(&other)
        .send()
        .await
        .expect("associate outside cutover");
    let drift = workspace.expect(&["plan", "-detailed-exitcode"], 2);
    assert!(drift.contains("changed outside of cutover"), "{drift}");
    workspace.expect(&["apply", "-auto-approve"], 0);
    assert_eq!(associated(&arn).await, secrets);

    workspace.expect(&["destroy", "-auto-approve"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_on_the_default_kms_key_is_refused_at_plan_time() {
    let name = unique_name("scram-default");
    let sdk = aws_config().await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("AmazonMSK_{name}"))
        .secret_string("{}")
        .send()
        .await
        .expect("secret")
        .arn()
        .expect("arn")
        .to_owned();
    let workspace = Workspace::new("scram-default");
    workspace.write(
        "main.hcl",
        &format!(
            r#"
provider "aws" {{
  region       = "us-east-1"
  endpoint_url = "{endpoint}"
}}

resource "aws_msk_scram_secret_association" "target" {{
  cluster_arn     = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/1"
  secret_arn_list = ["{secret}"]
}}
"#,
            endpoint = moto_endpoint()
        ),
    );
    let plan = workspace.expect(&["plan"], 1);
    assert!(
        plan.contains("MSK needs a customer-managed KMS key"),
        "{plan}"
    );
    assert!(plan.contains("main.hcl:7:"), "{plan}");

    // The AmazonMSK_ prefix is checked offline.
    workspace.write(
        "main.hcl",
        r#"
resource "aws_msk_scram_secret_association" "target" {
  cluster_arn     = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/1"
  secret_arn_list = ["arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"]
}
"#,
    );
    let invalid = workspace.expect(&["validate"], 1);
    assert!(invalid.contains("starts with AmazonMSK_"), "{invalid}");
    assert!(invalid.contains("main.hcl:4:"), "{invalid}");
}
