# The standard migration from a self-managed Kafka cluster on EC2 to Amazon MSK, in four phases
# switched by var.phase (one pull request each):
#
#   mirror             MSK (or an existing cluster), the target topics, the mirror, the source's
#                      ACLs re-created on the target (checked by assert.access_migrated); the
#                      legacy EC2 instances are adopted (nothing changes on them)
#   cutover_producers  gated by the mirror keeping up: the producers' secret points to MSK
#   cutover_consumers  gated by the legacy topics being quiet, the mirror drained with zero
#                      divergence and the consumers caught up on the legacy cluster: the groups'
#                      offsets are copied, then the consumers' secret points to MSK
#   decommission       gated by the legacy cluster being unused: the EC2 instances are terminated
#
# See README.md in this directory for inputs, outputs and what each phase's plan shows.

locals {
  phases = ["mirror", "cutover_producers", "cutover_consumers", "decommission"]
  step   = index(local.phases, var.phase)

  create_msk = var.existing_cluster_arn == null

  # What MSK gives for the chosen authentication.
  msk_bootstrap = {
    aws_msk_iam = try(aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam, data.aws_msk_cluster.existing[0].bootstrap_brokers_sasl_iam)
    scram       = try(aws_msk_cluster.this[0].bootstrap_brokers_sasl_scram, data.aws_msk_cluster.existing[0].bootstrap_brokers_sasl_scram)
    tls         = try(aws_msk_cluster.this[0].bootstrap_brokers_tls, data.aws_msk_cluster.existing[0].bootstrap_brokers_tls)
    plaintext   = try(aws_msk_cluster.this[0].bootstrap_brokers, data.aws_msk_cluster.existing[0].bootstrap_brokers)
  }
  target_bootstrap = local.msk_bootstrap[var.target_auth]
  target_protocol = {
    aws_msk_iam = null
    scram       = "SASL_SSL"
    tls         = "SSL"
    plaintext   = "PLAINTEXT"
  }[var.target_auth]

  topics = sort(keys(data.kafka_topics.source.topics))

  # What the decommission gate and guard watch (var.decommission_scope).
  whole_cluster  = var.decommission_scope == "cluster"
  watched_topics = local.whole_cluster ? null : local.topics
  watched_groups = local.whole_cluster ? null : var.consumer_groups
  topic_patterns = [for topic in local.topics : replace(topic, ".", "\\.")]
  group_patterns = [for group in var.consumer_groups : replace(group, ".", "\\.")]

  # The values the applications read. The legacy value is what they read today.
  legacy_connection = merge({ bootstrap_servers = join(",", var.source_bootstrap_servers) }, var.legacy_client_settings)
  target_connection = merge({ bootstrap_servers = local.target_bootstrap }, var.client_settings)
}

# --- the target --------------------------------------------------------------------------------

resource "aws_msk_configuration" "this" {
  count             = local.create_msk ? 1 : 0
  name              = var.name
  kafka_versions    = [var.msk.kafka_version]
  description       = "brokers of the ${var.name} migration"
  server_properties = var.msk.server_properties
}

resource "aws_msk_cluster" "this" {
  count                  = local.create_msk ? 1 : 0
  cluster_name           = var.name
  kafka_version          = var.msk.kafka_version
  number_of_broker_nodes = var.msk.number_of_broker_nodes

  broker_node_group_info {
    instance_type   = var.msk.instance_type
    client_subnets  = var.msk.client_subnets
    security_groups = var.msk.security_groups
    storage_gb      = var.msk.storage_gb
  }

  configuration_arn      = aws_msk_configuration.this[0].arn
  configuration_revision = aws_msk_configuration.this[0].latest_revision

  encryption_info {
    encryption_at_rest_kms_key_arn = var.msk.kms_key_arn
    client_broker                  = var.msk.client_broker
    in_cluster                     = true
  }

  client_authentication {
    sasl_iam        = var.target_auth == "aws_msk_iam"
    sasl_scram      = var.target_auth == "scram"
    unauthenticated = var.target_auth == "plaintext" || var.target_auth == "tls"
  }

  enhanced_monitoring = var.msk.enhanced_monitoring
  tags                = merge(var.msk.tags, { "cutover:migration" = var.name })

  lifecycle {
    prevent_destroy = true
  }
}

data "aws_msk_cluster" "existing" {
  count = local.create_msk ? 0 : 1
  arn   = var.existing_cluster_arn
}

# --- the two clusters --------------------------------------------------------------------------

cluster "legacy" {
  bootstrap_servers = var.source_bootstrap_servers
  broker_version    = var.source_broker_version
  zookeeper         = var.source_zookeeper
  security_protocol = var.source_auth == null ? null : var.source_auth.security_protocol
  sasl_mechanism    = var.source_auth == null ? null : var.source_auth.sasl_mechanism
  sasl_username     = var.source_auth == null ? null : var.source_auth.username
  sasl_password     = var.source_auth == null ? null : var.source_auth.password
  tls_ca_file       = var.source_auth == null ? null : var.source_auth.tls_ca_file
}

cluster "target" {
  bootstrap_servers = local.target_bootstrap
  auth              = var.target_auth == "aws_msk_iam" ? "aws_msk_iam" : null
  security_protocol = local.target_protocol
  sasl_mechanism    = var.target_auth == "scram" ? "SCRAM-SHA-512" : null
  sasl_username     = var.target_scram == null ? null : var.target_scram.username
  sasl_password     = var.target_scram == null ? null : var.target_scram.password
}

# --- topics and the mirror ---------------------------------------------------------------------

data "kafka_topics" "source" {
  cluster = cluster.legacy
  include = var.topics_include
  exclude = var.topics_exclude
}

resource "kafka_topic" "this" {
  for_each           = data.kafka_topics.source.topics
  cluster            = cluster.target
  name               = each.key
  partitions         = each.value.partitions
  replication_factor = var.replication_factor
  config             = { for key, value in each.value.config : key => value if !contains(var.drop_topic_configs, key) }
}

resource "kafka_mirror" "this" {
  source           = cluster.legacy
  target           = cluster.target
  topics           = [for topic in kafka_topic.this : topic.name]
  offsets          = var.mirror_offsets
  max_in_flight_mb = var.mirror_max_in_flight_mb
  # Once a follower (cutover mirror run --follow) keeps the mirror running, an apply leaves
  # it the copying unless it falls this far behind.
  max_lag = local.step == 0 ? 0 : var.max_lag_records
}

# --- what the source carries: the plans' cost and sizing section -------------------------------

data "kafka_traffic" "source" {
  cluster = cluster.legacy
  topics  = local.topics
  window  = var.traffic_window
}

# --- access: the source's ACLs on the target ---------------------------------------------------

locals {
  # MSK does not apply Kafka ACLs to IAM clients (IAM policies grant access there).
  copy_acls = var.copy_acls && var.target_auth != "aws_msk_iam"

  # Each source binding, by its id on the source, as it is made on the target: the same
  # resource, pattern, host, operation and permission (deny too: leaving one behind would
  # widen access), the principal mapped.
  acls = {
    for id, acl in try(data.kafka_acls.source[0].acls, {}) : id => merge(acl, {
      principal = lookup(var.principal_map, acl.principal, acl.principal)
    })
  }
  acl_ids_on_target = {
    for id, acl in local.acls : id => join("|", [acl.resource_type, acl.pattern_type, acl.resource_name, acl.principal, acl.host, acl.operation, acl.permission])
  }
  acls_missing_on_target = sort([
    for id, target_id in local.acl_ids_on_target : target_id
    if !contains(keys(try(data.kafka_acls.target[0].acls, {})), target_id)
  ])
}

data "kafka_acls" "source" {
  count      = local.copy_acls ? 1 : 0
  cluster    = cluster.legacy
  principals = var.acl_principals
}

resource "kafka_acl" "access" {
  for_each      = local.acls
  cluster       = cluster.target
  resource_type = each.value.resource_type
  resource_name = each.value.resource_name
  pattern_type  = each.value.pattern_type
  principal     = each.value.principal
  host          = each.value.host
  operation     = each.value.operation
  permission    = each.value.permission
}

# What the target allows, read after the bindings above are made: a data source that depends
# on a change in the plan is read during apply, once that change is done.
data "kafka_acls" "target" {
  count      = local.copy_acls ? 1 : 0
  cluster    = cluster.target
  principals = distinct([for acl in local.acls : acl.principal])
  depends_on = [kafka_acl.access]
}

# Before any application moves: every binding of the source is on the target (principal
# mapped). Removed outside cutover, `cutover verify` fails here and the next plan makes it again.
assert "access_migrated" {
  enabled = local.copy_acls
  # The condition is over what was read once: polling longer would change nothing.
  timeout       = "10s"
  poll_interval = "2s"
  condition     = length(local.acls_missing_on_target) == 0
  error_message = "the target lacks ${length(local.acls_missing_on_target)} of the source's ACL bindings: ${join(", ", local.acls_missing_on_target)}"
}

# --- the gates ---------------------------------------------------------------------------------

# mirror: the new cluster is big enough for what the source carries (AWS's per-broker guidance:
# partitions, throughput and storage per broker), measured again when the apply runs (a saved
# plan compares the assertion's arguments: figures read at plan time would differ). Its figures
# do not change while it waits, so it fails at once.
assert "msk_sized" {
  enabled = var.enforce_sizing && local.create_msk && local.step == 0
  timeout = "0s"

  msk_sizing {
    source             = cluster.legacy
    topics             = local.topics
    window             = var.traffic_window
    cluster            = try(aws_msk_cluster.this[0], data.aws_msk_cluster.existing[0])
    replication_factor = var.replication_factor
  }
}

# cutover_producers: the mirror keeps up with the live producers.
assert "mirror_keeps_up" {
  enabled       = local.step == 1
  timeout       = var.gate_timeout
  poll_interval = "2s"

  lag {
    mirror      = kafka_mirror.this
    max_records = var.max_lag_records
    stable_for  = var.stable_for
  }
}

# cutover_consumers: nothing writes to the legacy topics any more, the mirror has copied all of
# it and the target holds exactly the source's records.
assert "legacy_drained" {
  enabled       = local.step == 2
  timeout       = var.gate_timeout
  poll_interval = "2s"

  quiescent {
    cluster = cluster.legacy
    topics  = local.topics
    groups  = [] # the consumers are still there: they move in this phase
    for     = var.quiet_for
  }

  lag {
    mirror      = kafka_mirror.this
    max_records = 0
  }

  zero_divergence {
    mirror             = kafka_mirror.this
    allow_target_ahead = true # the producers already write to the target
  }
}

# cutover_consumers: the consumers have read everything on the legacy cluster, so the offsets
# they committed there are final.
assert "consumers_caught_up" {
  enabled       = local.step == 2
  timeout       = var.gate_timeout
  poll_interval = "2s"

  lag {
    cluster     = cluster.legacy
    groups      = var.consumer_groups
    topics      = local.topics
    max_records = 0
    stable_for  = var.stable_for
  }
}

# decommission: no writes and no active consumer group on the legacy cluster.
assert "legacy_unused" {
  enabled       = local.step == 3
  timeout       = var.gate_timeout
  poll_interval = "2s"

  quiescent {
    cluster = cluster.legacy
    topics  = local.watched_topics
    groups  = local.watched_groups
    for     = var.quiet_for
  }
}

# --- the flips ---------------------------------------------------------------------------------

resource "aws_secretsmanager_secret_version" "producers" {
  secret_id     = var.producer_secret_id
  secret_string = jsonencode(local.step >= 1 ? local.target_connection : local.legacy_connection)
  visible_keys  = ["bootstrap_servers", "security_protocol", "sasl_mechanism"]
  depends_on    = [assert.mirror_keeps_up, assert.access_migrated, kafka_acl.access]
}

resource "kafka_consumer_group_offsets" "this" {
  count      = local.step >= 2 ? 1 : 0
  source     = cluster.legacy
  target     = cluster.target
  groups     = var.consumer_groups
  topics     = local.topics
  strategy   = "translate"
  mirror     = var.mirror_offsets == "translate" ? kafka_mirror.this : null
  depends_on = [assert.legacy_drained, assert.consumers_caught_up]
}

resource "aws_secretsmanager_secret_version" "consumers" {
  secret_id     = var.consumer_secret_id
  secret_string = jsonencode(local.step >= 2 ? local.target_connection : local.legacy_connection)
  visible_keys  = ["bootstrap_servers", "security_protocol", "sasl_mechanism"]
  depends_on    = [assert.legacy_drained, assert.consumers_caught_up, kafka_consumer_group_offsets.this, assert.access_migrated]
}

# --- the legacy fleet --------------------------------------------------------------------------

data "aws_ec2_instances" "legacy" {
  instance_tags        = var.legacy_instance_tags
  instance_state_names = ["pending", "running", "stopping", "stopped"]
}

# Adopted in the first phase (nothing changes on them), terminated by the decommission phase:
# dropping them from for_each plans their destruction, behind the guard (kept in state).
resource "aws_ec2_instance" "legacy" {
  for_each              = local.step < 3 ? data.aws_ec2_instances.legacy.instances : {}
  instance_id           = each.key
  stop_before_terminate = true

  decommission_guard {
    cluster     = cluster.legacy
    observe_for = var.quiet_for
    topics      = local.whole_cluster ? null : local.topic_patterns
    groups      = local.whole_cluster ? null : local.group_patterns
  }

  depends_on = [assert.legacy_unused]
}
