# The whole migration against the local environment (scripts/env up): the legacy Kafka 3.9
# ZooKeeper-mode cluster on 127.0.0.1:19092 and its "EC2" fleet (moto) move to "MSK" (moto's
# MSK, whose brokers are the local KRaft cluster on 127.0.0.1:29092).
#
# The fleet, its topics and the applications' secrets are made by legacy-fleet/ first;
# scripts/demo runs the whole walk-through. Each phase is one line in phase.auto.vars.hcl:
# mirror -> cutover_producers -> cutover_consumers -> decommission.

variable "phase" {
  type        = string
  description = "mirror, cutover_producers, cutover_consumers or decommission"
}

variable "prefix" {
  type        = string
  default     = "shop"
  description = "as in legacy-fleet/: the topics, secrets and instances to migrate"
}

variable "legacy_bootstrap" {
  type    = string
  default = "127.0.0.1:19092"
}

variable "aws_endpoint" {
  type    = string
  default = "http://127.0.0.1:15000"
}

variable "quiet_for" {
  type        = string
  default     = "10s"
  description = "how long the legacy topics must be quiet (short here; minutes in production)"
}

provider "aws" {
  region        = "us-east-1"
  endpoint_url  = var.aws_endpoint
  poll_interval = "1s"
}

module "migration" {
  source = "../../modules/kafka-to-msk"

  phase = var.phase
  name  = "${var.prefix}-msk"

  source_bootstrap_servers = [var.legacy_bootstrap]
  legacy_instance_tags     = { Migration = var.prefix }
  topics_include           = ["${replace(var.prefix, ".", "\\.")}\\..*"]

  msk = {
    kafka_version          = "3.9.x"
    number_of_broker_nodes = 1
    instance_type          = "kafka.t3.small"
    client_subnets         = ["subnet-local-a"]
    client_broker          = "PLAINTEXT"
    server_properties      = "auto.create.topics.enable=false\n"
  }
  target_auth = "plaintext"

  producer_secret_id = "${var.prefix}/producers"
  consumer_secret_id = "${var.prefix}/consumers"
  consumer_groups    = ["${var.prefix}-billing"]

  # The local legacy cluster is shared (other demo runs, the tests): only this migration's
  # topics and group must be unused before its fleet goes. In production leave the default,
  # "cluster": nothing at all may use the old cluster.
  decommission_scope = "migration"

  # The same for ACLs: only this migration's applications' bindings are copied (the sample
  # applications connect as User:ANONYMOUS, a super user here, so they need none).
  acl_principals = ["User:${var.prefix}-app"]

  max_lag_records = 2000
  stable_for      = "5s"
  quiet_for       = var.quiet_for
  gate_timeout    = "3m"

  # The plans' cost and sizing section: a short measurement here; the mirror phase fails if
  # the "MSK" cluster is too small for what the legacy topics carry.
  traffic_window = "5s"
  enforce_sizing = true
}

output "phase" {
  value = module.migration.phase
}

output "target_bootstrap_servers" {
  value = module.migration.target_bootstrap_servers
}

output "topics" {
  value = module.migration.topics
}

output "legacy_instances" {
  value = module.migration.legacy_instances
}
