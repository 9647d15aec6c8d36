//! Issue 21: no message built from a configuration value prints it when it is sensitive. A
//! marker string is fed, as a sensitive variable, through every argument of every resource,
//! data source, cluster, provider and assertion check type, and of the `assert` block itself
//! (enumerated from the schema registry, so a new argument is covered without touching this
//! file), and `validate` (human and `-json`), `plan -out`, `show` (human, `-json` and
//! `-markdown`) of the saved plan, `apply`, `show -json`, `output -json` and `destroy` are run
//! against the local environment (failing is fine). Every byte they print or write (stdout,
//! stderr, state, backup, plan file) is searched for the marker.
//!
//! Each type has a baseline block below that validates on its own; the case of an argument is
//! the baseline with that argument set to the sensitive variable. A new type without a
//! baseline fails the test with a message saying so.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use cutover::config::schema::{Schema, SchemaSource};
use cutover::config::types::Type;
use cutover::providers::Registry;

use crate::support::{STATE_KEY, legacy_bootstrap, moto_endpoint, target_bootstrap, unique_name};

const MARKER: &str = "MARKER-7f3a";
/// A sensitive number is searched for by this value: long enough not to appear by chance.
const MARKER_NUMBER: &str = "73197319";

/// What kind of block a type is written as.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Resource,
    Data,
    Cluster,
    Provider,
    Check,
    /// The `assert` block's own arguments (its checks are `Check`s).
    Assert,
}

/// One type with its schema and the baseline arguments (`path = expression`; a path inside a
/// nested block is `block.argument`; a leading `?` keeps it only when the case needs that
/// block).
struct TypeCase {
    kind: Kind,
    name: String,
    schema: Schema,
}

fn baseline(kind: Kind, name: &str, unique: &str) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(&str, String)> = match (kind, name) {
        (Kind::Cluster, _) => vec![
            ("bootstrap_servers", format!("\"{}\"", target_bootstrap())),
            ("timeout", "\"5s\"".into()),
        ],
        (Kind::Provider, "aws") => vec![
            ("region", "\"us-east-1\"".into()),
            ("endpoint_url", format!("\"{}\"", moto_endpoint())),
            ("poll_interval", "\"20ms\"".into()),
            (
                "?assume_role.role_arn",
                "\"arn:aws:iam::123456789012:role/cutover\"".into(),
            ),
        ],
        (Kind::Resource, "cutover_data") => vec![("input", "\"x\"".into())],
        (Kind::Resource, "kafka_topic") => vec![
            ("cluster", "cluster.target".into()),
            ("name", format!("\"cutover-marker-{unique}\"")),
            ("partitions", "1".into()),
            ("replication_factor", "1".into()),
        ],
        (Kind::Resource, "kafka_consumer_group_offsets") => vec![
            ("source", "cluster.legacy".into()),
            ("target", "cluster.target".into()),
            ("groups", format!("[\"cutover-marker-{unique}\"]")),
            ("topics", format!("[\"cutover-marker-{unique}\"]")),
            ("strategy", "\"earliest\"".into()),
        ],
        (Kind::Resource, "kafka_mirror") => vec![
            ("source", "cluster.legacy".into()),
            ("target", "cluster.target".into()),
            ("topics", format!("[\"cutover-marker-{unique}\"]")),
        ],
        (Kind::Resource, "aws_msk_configuration") => vec![
            ("name", format!("\"cutover-marker-{unique}\"")),
            ("kafka_versions", "[\"3.9.x\"]".into()),
            (
                "server_properties",
                "\"auto.create.topics.enable=false\\n\"".into(),
            ),
        ],
        (Kind::Resource, "aws_msk_cluster") => vec![
            ("cluster_name", format!("\"cutover-marker-{unique}\"")),
            ("kafka_version", "\"3.9.x\"".into()),
            ("number_of_broker_nodes", "3".into()),
            (
                "broker_node_group_info.instance_type",
                "\"kafka.m5.large\"".into(),
            ),
            (
                "broker_node_group_info.client_subnets",
                "[\"subnet-0a1\", \"subnet-0b2\", \"subnet-0c3\"]".into(),
            ),
            ("broker_node_group_info.storage_gb", "10".into()),
            ("timeouts.create", "\"20s\"".into()),
        ],
        (Kind::Resource, "aws_secretsmanager_secret") => vec![
            ("name", format!("\"cutover-marker-{unique}\"")),
            ("recovery_window_in_days", "0".into()),
        ],
        (Kind::Resource, "aws_secretsmanager_secret_version") => vec![
            ("secret_id", "aws_secretsmanager_secret.holder.arn".into()),
            ("secret_string", "\"x\"".into()),
        ],
        (Kind::Resource, "aws_ec2_instance") => vec![
            ("ami", "\"ami-12c6146b\"".into()),
            ("instance_type", "\"t3.micro\"".into()),
            ("?decommission_guard.cluster", "cluster.legacy".into()),
            ("?decommission_guard.observe_for", "\"1s\"".into()),
        ],
        (Kind::Data, "aws_ec2_instances") => {
            vec![("instance_tags", format!("{{ marker = \"none-{unique}\" }}"))]
        }
        (Kind::Data, "aws_msk_cluster") => {
            vec![("cluster_name", format!("\"cutover-marker-{unique}\""))]
        }
        (Kind::Data, "aws_secretsmanager_secret_version") => {
            vec![("secret_id", format!("\"cutover-marker-{unique}\""))]
        }
        (Kind::Resource, "kafka_acl") => vec![
            ("cluster", "cluster.target".into()),
            ("resource_type", "\"topic\"".into()),
            ("resource_name", format!("\"cutover-marker-{unique}\"")),
            ("principal", format!("\"User:marker-{unique}\"")),
            ("operation", "\"write\"".into()),
        ],
        (Kind::Resource, "aws_msk_scram_secret_association") => vec![
            (
                "cluster_arn",
                format!(
                    "\"arn:aws:kafka:us-east-1:123456789012:cluster/marker-{unique}/0a1b2c3d-1\""
                ),
            ),
            (
                "secret_arn_list",
                format!(
                    "[\"arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_marker-{unique}-AbCdEf\"]"
                ),
            ),
        ],
        (Kind::Data, "kafka_acls") => vec![("cluster", "cluster.target".into())],
        (Kind::Data, "kafka_traffic") => vec![
            ("cluster", "cluster.target".into()),
            ("topics", format!("[\"cutover-marker-{unique}\"]")),
            ("window", "\"1s\"".into()),
        ],
        // Fails at once, so `error_message` is printed (and the assertion gives up quickly).
        (Kind::Assert, _) => vec![
            ("condition", "1 == 2".into()),
            ("error_message", "\"the marker assertion does not hold\"".into()),
            ("timeout", "\"1s\"".into()),
            ("poll_interval", "\"250ms\"".into()),
        ],
        (Kind::Check, "msk_sizing") => vec![
            ("source", "cluster.legacy".into()),
            ("topics", format!("[\"cutover-marker-{unique}\"]")),
            ("window", "\"1s\"".into()),
            (
                "cluster",
                "{ number_of_broker_nodes = 3, broker_node_group_info = { instance_type = \"kafka.m5.large\", client_subnets = [\"a\"] } }".into(),
            ),
        ],
        (Kind::Data, "kafka_topics") => vec![
            ("cluster", "cluster.target".into()),
            ("include", format!("[\"cutover-marker-{unique}\"]")),
        ],
        (Kind::Check, "lag") => vec![
            ("cluster", "cluster.target".into()),
            ("groups", format!("[\"cutover-marker-{unique}\"]")),
            ("max_records", "0".into()),
        ],
        (Kind::Check, "quiescent") => vec![
            ("cluster", "cluster.legacy".into()),
            ("topics", format!("[\"cutover-marker-{unique}\"]")),
            ("for", "\"1s\"".into()),
        ],
        (Kind::Check, "throughput") => vec![
            ("cluster", "cluster.target".into()),
            ("min_mb_per_s", "0.01".into()),
            ("duration", "\"1s\"".into()),
            ("record_size", "100".into()),
            ("partitions", "1".into()),
            ("replication_factor", "1".into()),
        ],
        (Kind::Check, "zero_divergence") => vec![
            ("source", "cluster.legacy".into()),
            ("target", "cluster.target".into()),
            ("topics", format!("[\"cutover-marker-{unique}\"]")),
        ],
        _ => return None,
    };
    Some(
        pairs
            .into_iter()
            .map(|(path, expression)| (path.to_owned(), expression))
            .collect(),
    )
}

fn every_type(registry: &Registry) -> Vec<TypeCase> {
    let mut types = Vec::new();
    for resource in registry.resources() {
        types.push(TypeCase {
            kind: Kind::Resource,
            name: resource.type_name().to_owned(),
            schema: resource.schema().clone(),
        });
    }
    for data in registry.data_sources() {
        types.push(TypeCase {
            kind: Kind::Data,
            name: data.type_name().to_owned(),
            schema: data.schema().clone(),
        });
    }
    types.push(TypeCase {
        kind: Kind::Cluster,
        name: "cluster".to_owned(),
        schema: registry.cluster_schema().clone(),
    });
    for (name, schema) in registry.provider_schemas() {
        types.push(TypeCase {
            kind: Kind::Provider,
            name: name.to_owned(),
            schema: schema.clone(),
        });
    }
    // Its check blocks are covered one by one as `Check`s.
    let mut assert = cutover::verify::assert_schema();
    assert.blocks.clear();
    types.push(TypeCase {
        kind: Kind::Assert,
        name: "assert".to_owned(),
        schema: assert,
    });
    for (name, schema) in registry.assertion_checks() {
        types.push(TypeCase {
            kind: Kind::Check,
            name: name.to_owned(),
            schema: schema.clone(),
        });
    }
    types
}

/// Every argument a configuration may set, as `block.argument` paths, with its type.
fn settable_paths(schema: &Schema, prefix: &str, out: &mut Vec<(String, Type)>) {
    for attribute in &schema.attributes {
        if attribute.settable() {
            out.push((format!("{prefix}{}", attribute.name), attribute.ty.clone()));
        }
    }
    for block in &schema.blocks {
        settable_paths(&block.schema, &format!("{prefix}{}.", block.name), out);
    }
}

/// The sensitive variable's type constraint and value for an argument of type `ty`; `None`
/// when the type cannot carry a marker that can be searched for (a bool).
fn marker_variable(ty: &Type, marker: &str) -> Option<(String, String)> {
    Some(match ty {
        Type::String => ("string".into(), format!("\"{marker}\"")),
        Type::Number => ("number".into(), MARKER_NUMBER.into()),
        Type::Bool => return None,
        // A `cluster`, `mirror` or `bootstrap_servers`: a string that looks like servers.
        Type::Any => ("any".into(), format!("\"{marker}:9092\"")),
        Type::List(inner) | Type::Set(inner) => {
            let (inner_type, inner_value) = marker_variable(inner, marker)?;
            let kind = if matches!(ty, Type::List(_)) {
                "list"
            } else {
                "set"
            };
            (format!("{kind}({inner_type})"), format!("[{inner_value}]"))
        }
        Type::Map(inner) => {
            let (inner_type, inner_value) = marker_variable(inner, marker)?;
            (
                format!("map({inner_type})"),
                format!("{{ \"{marker}\" = {inner_value} }}"),
            )
        }
        Type::Tuple(_) | Type::Object(_) => ("any".into(), format!("\"{marker}\"")),
    })
}

/// Renders `path = expression` pairs as a block body, nested blocks included.
fn render_body(pairs: &[(String, String)], indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut text = String::new();
    let mut blocks: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (path, expression) in pairs {
        match path.split_once('.') {
            Some((block, rest)) => blocks
                .entry(block)
                .or_default()
                .push((rest.to_owned(), expression.clone())),
            None => text.push_str(&format!("{pad}{path} = {expression}\n")),
        }
    }
    for (block, inner) in blocks {
        text.push_str(&format!(
            "{pad}{block} {{\n{}{pad}}}\n",
            render_body(&inner, indent + 2)
        ));
    }
    text
}

/// The baseline with `path` set to `expression` (`None`: the baseline alone).
fn case_body(base: &[(String, String)], tested: Option<(&str, &str)>) -> Vec<(String, String)> {
    let needed_block = tested
        .and_then(|(path, _)| path.split_once('.'))
        .map(|(block, _)| format!("{block}."));
    let mut pairs: Vec<(String, String)> = base
        .iter()
        .filter_map(|(path, expression)| match path.strip_prefix('?') {
            Some(optional) => needed_block
                .as_deref()
                .filter(|block| optional.starts_with(block))
                .map(|_| (optional.to_owned(), expression.clone())),
            None => Some((path.clone(), expression.clone())),
        })
        .filter(|(path, _)| tested.is_none_or(|(tested, _)| tested != path))
        .collect();
    if let Some((path, expression)) = tested {
        pairs.push((path.to_owned(), expression.to_owned()));
    }
    pairs
}

/// A whole configuration: the local clusters and provider, and the block under test.
fn configuration(
    case: &TypeCase,
    body: &[(String, String)],
    variable: Option<(String, String)>,
    sensitive: bool,
) -> String {
    let mut text = String::new();
    if let Some((ty, value)) = variable {
        let ty = if ty == "any" {
            String::new()
        } else {
            format!("  type      = {ty}\n")
        };
        text.push_str(&format!(
            "variable \"secret\" {{\n{ty}  sensitive = {sensitive}\n  default   = {value}\n}}\n\n"
        ));
    }
    text.push_str(&format!(
        "cluster \"legacy\" {{\n  bootstrap_servers = \"{}\"\n  timeout = \"5s\"\n}}\n\ncluster \"target\" {{\n  bootstrap_servers = \"{}\"\n  timeout = \"5s\"\n}}\n\n",
        legacy_bootstrap(),
        target_bootstrap()
    ));
    if case.kind != Kind::Provider {
        text.push_str(&format!(
            "provider \"aws\" {{\n  region        = \"us-east-1\"\n  endpoint_url  = \"{}\"\n  poll_interval = \"20ms\"\n}}\n\n",
            moto_endpoint()
        ));
    }
    let rendered = render_body(body, 2);
    match case.kind {
        Kind::Resource => {
            if case.name == "aws_secretsmanager_secret_version" {
                text.push_str(&format!(
                    "resource \"aws_secretsmanager_secret\" \"holder\" {{\n  name = \"cutover-marker-holder-{}\"\n  recovery_window_in_days = 0\n}}\n\n",
                    unique_name("s")
                ));
            }
            text.push_str(&format!(
                "resource \"{}\" \"m\" {{\n{rendered}}}\n",
                case.name
            ));
        }
        Kind::Data => {
            text.push_str(&format!("data \"{}\" \"m\" {{\n{rendered}}}\n", case.name));
            text.push_str("output \"read\" {\n  sensitive = true\n  value     = data.");
            text.push_str(&case.name);
            text.push_str(".m\n}\n");
        }
        Kind::Cluster => {
            text.push_str(&format!(
                "cluster \"m\" {{\n{rendered}}}\n\ndata \"kafka_topics\" \"probe\" {{\n  cluster = cluster.m\n  include = [\"cutover-marker-none\"]\n}}\n"
            ));
        }
        Kind::Provider => {
            text.push_str(&format!(
                "provider \"{}\" {{\n{rendered}}}\n\ndata \"aws_ec2_instances\" \"probe\" {{\n  instance_tags = {{ marker = \"none\" }}\n}}\n",
                case.name
            ));
        }
        Kind::Assert => {
            text.push_str(&format!("assert \"m\" {{\n{rendered}}}\n"));
        }
        Kind::Check => {
            text.push_str(&format!(
                "assert \"m\" {{\n  timeout       = \"3s\"\n  poll_interval = \"250ms\"\n  {} {{\n{}  }}\n}}\n",
                case.name,
                render_body(body, 4)
            ));
        }
    }
    text
}

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    run_logged(dir, args, None)
}

/// [`run`], with `CUTOVER_LOG` set to `log` (the log lines must respect the marks too).
fn run_logged(dir: &Path, args: &[&str], log: Option<&str>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
    command
        .args(args)
        .current_dir(dir)
        .env("CUTOVER_STATE_KEY", STATE_KEY)
        .env_remove("CUTOVER_STATE_KEY_FILE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    match log {
        Some(filter) => command.env("CUTOVER_LOG", filter),
        None => command.env_remove("CUTOVER_LOG"),
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
}

/// Runs validate, plan -out, show (-json, -markdown) of the plan, apply, show -json, output,
/// state list and show, graph, verify, a plan with debug logging, and destroy on the
/// configuration; returns what each printed or wrote, by source, and validate's exit code.
fn drive(configuration: &str, apply: bool) -> (i32, Vec<(String, String)>) {
    let dir = std::env::temp_dir().join(unique_name("cutover-marker"));
    std::fs::create_dir_all(&dir).expect("create workspace");
    std::fs::write(dir.join("main.cutover.hcl"), configuration).expect("write configuration");
    let mut seen = Vec::new();
    let (validated, output) = run(&dir, &["validate"]);
    seen.push(("validate".to_owned(), output));
    seen.push((
        "validate -json".to_owned(),
        run(&dir, &["validate", "-json"]).1,
    ));
    if validated == 0 {
        let (planned, output) = run(&dir, &["plan", "-out", "plan.bin"]);
        seen.push(("plan -out".to_owned(), output));
        if dir.join("plan.bin").exists() {
            seen.push((
                "show -json plan.bin".to_owned(),
                run(&dir, &["show", "-json", "plan.bin"]).1,
            ));
            seen.push((
                "show plan.bin".to_owned(),
                run(&dir, &["show", "plan.bin"]).1,
            ));
            seen.push((
                "show -markdown plan.bin".to_owned(),
                run(&dir, &["show", "-markdown", "plan.bin"]).1,
            ));
            let bytes = std::fs::read(dir.join("plan.bin")).unwrap_or_default();
            seen.push((
                "plan file".to_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
            if apply && planned == 0 {
                seen.push((
                    "apply plan.bin".to_owned(),
                    run(&dir, &["apply", "plan.bin"]).1,
                ));
                seen.push(("show -json".to_owned(), run(&dir, &["show", "-json"]).1));
                seen.push(("output -json".to_owned(), run(&dir, &["output", "-json"]).1));
                let (_, listed) = run(&dir, &["state", "list"]);
                for address in listed.lines().map(str::trim).filter(|a| !a.is_empty()) {
                    seen.push((
                        format!("state show {address}"),
                        run(&dir, &["state", "show", address]).1,
                    ));
                }
                seen.push(("state list".to_owned(), listed));
                seen.push(("graph".to_owned(), run(&dir, &["graph"]).1));
                seen.push(("verify".to_owned(), run(&dir, &["verify"]).1));
                // A refresh with every debug line of cutover and librdkafka on.
                seen.push((
                    "CUTOVER_LOG=debug plan".to_owned(),
                    run_logged(&dir, &["plan"], Some("debug")).1,
                ));
                seen.push((
                    "destroy".to_owned(),
                    run(&dir, &["destroy", "-auto-approve"]).1,
                ));
            }
        }
        for file in ["cutover.state.json", "cutover.state.json.backup"] {
            if let Ok(bytes) = std::fs::read(dir.join(file)) {
                seen.push((
                    file.to_owned(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    (validated, seen)
}

/// Whether every occurrence of the marker on `line` is inside an ARN: AWS builds a cluster's,
/// configuration's or secret's ARN from its name, and cutover keeps it in plaintext because
/// refresh, import and destroy find the object by it (a known limit, see README.md). A
/// `kafka_acl`'s id, built from its arguments, is no exception: it is sensitive when one of
/// them is.
fn only_inside_arns(line: &str, needle: &str) -> bool {
    let without_arns: String = line
        .split(['"', ' ', '\''])
        .filter(|word| !word.starts_with("arn:aws:"))
        .collect::<Vec<_>>()
        .join(" ");
    !without_arns.contains(needle)
}

fn leaks(seen: &[(String, String)], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (source, text) in seen {
        for line in text.lines() {
            if needles
                .iter()
                .any(|needle| line.contains(needle) && !only_inside_arns(line, needle))
            {
                let line: String = line.chars().take(300).collect();
                found.push(format!("{source}: {line}"));
            }
        }
    }
    found
}

#[test]
fn a_sensitive_marker_in_any_argument_of_any_type_is_never_printed_or_stored() {
    let registry = Registry::builtin();
    let unique = unique_name("u").replace('-', "");
    let mut cases = Vec::new();
    let mut missing = Vec::new();
    for case in every_type(&registry) {
        let Some(base) = baseline(case.kind, &case.name, &unique) else {
            missing.push(format!("{:?} {}", case.kind, case.name));
            continue;
        };
        let mut paths = Vec::new();
        settable_paths(&case.schema, "", &mut paths);
        cases.push((case, base, paths));
    }
    assert!(
        missing.is_empty(),
        "types without a baseline block in tests/it/secret_marker.rs: {missing:?}"
    );

    // Each baseline must validate alone, or the cases would stop before any provider code.
    // (case, configuration, its own marker (cases run together on shared clusters: another
    // case's marker in a topic listing is not this case's leak), baseline)
    let mut work: Vec<(String, String, Option<String>, bool)> = Vec::new();
    for (case, base, paths) in &cases {
        let text = configuration(case, &case_body(base, None), None, true);
        work.push((
            format!("{} {} (baseline)", format_kind(case.kind), case.name),
            text,
            None,
            true,
        ));
        for (path, ty) in paths {
            let marker = format!("{MARKER}-{}", unique_name("m").replace('-', ""));
            let Some(variable) = marker_variable(ty, &marker) else {
                continue;
            };
            let body = case_body(base, Some((path, "var.secret")));
            let text = configuration(case, &body, Some(variable), true);
            work.push((
                format!("{} {}.{path}", format_kind(case.kind), case.name),
                text,
                Some(if matches!(ty, Type::Number) {
                    MARKER_NUMBER.to_owned()
                } else {
                    marker.clone()
                }),
                false,
            ));
        }
    }
    // The control: the same search finds the marker when the variable is not sensitive.
    let topic = cases
        .iter()
        .find(|(case, _, _)| case.name == "kafka_topic")
        .expect("kafka_topic is registered");
    let control_marker = format!("{MARKER}-control");
    let control = configuration(
        &topic.0,
        &case_body(&topic.1, Some(("name", "var.secret"))),
        Some(("string".into(), format!("\"{control_marker}\""))),
        false,
    );
    let (_, seen) = drive(&control, false);
    assert!(
        !leaks(&seen, &[&control_marker]).is_empty(),
        "the control (a non-sensitive marker) was not found: the search is blind:\n{seen:#?}"
    );

    let queue = Mutex::new(work);
    let failures = Mutex::new(Vec::<String>::new());
    let total = queue.lock().unwrap().len();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let Some((name, text, own_marker, is_baseline)) = queue.lock().unwrap().pop()
                    else {
                        return;
                    };
                    let started = std::time::Instant::now();
                    let (validated, seen) = drive(&text, true);
                    let mut found = Vec::new();
                    if is_baseline && validated != 0 {
                        found.push(format!("{name} does not validate:\n{text}\n{seen:#?}"));
                    }
                    if let Some(own_marker) = &own_marker {
                        for leak in leaks(&seen, &[own_marker]) {
                            found.push(format!("{name}: {leak}"));
                        }
                    }
                    // Seen as it goes with --nocapture: the whole run takes minutes.
                    eprintln!(
                        "secret marker: {name}: {} ({:.1}s)",
                        if found.is_empty() { "clean" } else { "LEAKS" },
                        started.elapsed().as_secs_f64()
                    );
                    for line in &found {
                        eprintln!("  {line}");
                    }
                    failures.lock().unwrap().extend(found);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {total} cases printed or stored a sensitive value:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn format_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Resource => "resource",
        Kind::Data => "data",
        Kind::Cluster => "cluster",
        Kind::Provider => "provider",
        Kind::Check => "assert check",
        Kind::Assert => "assert",
    }
}
