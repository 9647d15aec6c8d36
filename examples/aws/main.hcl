# A production-shaped migration: the self-managed "orders" Kafka fleet on EC2 (SASL/SCRAM,
# ZooKeeper) to a three-AZ Amazon MSK cluster in us-west-2 with IAM authentication.
#
# Not applied in CI (it would create a real MSK cluster); `cutover validate -chdir
# examples/aws` checks it. To use it: copy this directory into your infrastructure repository,
# set the values in terraform-like `*.auto.vars.hcl` files (subnets, security group, KMS key,
# the legacy brokers), keep the state in S3 (below), and run the pull-request workflow of
# examples/github-actions. Each phase is one line in phase.auto.vars.hcl.

variable "phase" {
  type        = string
  description = "mirror, cutover_producers, cutover_consumers or decommission"
}

variable "legacy_brokers" {
  type        = list(string)
  description = "host:port of the legacy brokers' SASL_SSL listener"
  default     = ["10.20.1.10:9094", "10.20.2.10:9094", "10.20.3.10:9094"]
}

variable "private_subnets" {
  type        = list(string)
  description = "one private subnet per availability zone (us-west-2a, b, c)"
  default     = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
}

variable "msk_security_group" {
  type    = string
  default = "sg-0123456789abcdef0"
}

variable "kms_key_arn" {
  type    = string
  default = "arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"
}

cutover {
  backend "s3" {
    bucket = "acme-cutover-state"
    key    = "orders/kafka-to-msk.state.json"
    region = "us-west-2"
  }
}

provider "aws" {
  region        = "us-west-2"
  poll_interval = "30s"

  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/cutover-migration"
    session_name = "cutover"
  }
}

# The legacy cluster's SCRAM credentials, as its clients already read them.
data "aws_secretsmanager_secret_version" "legacy_scram" {
  secret_id = "prod/orders/kafka-legacy-scram"
}

locals {
  legacy_scram = jsondecode(data.aws_secretsmanager_secret_version.legacy_scram.secret_string)
  tags = {
    team        = "orders"
    environment = "production"
    cost-center = "1234"
  }
}

module "migration" {
  source = "../../modules/kafka-to-msk"

  phase = var.phase
  name  = "orders-prod"

  source_bootstrap_servers = var.legacy_brokers
  source_zookeeper         = "10.20.1.20:2181,10.20.2.20:2181,10.20.3.20:2181/kafka"
  source_auth = {
    security_protocol = "SASL_SSL"
    sasl_mechanism    = "SCRAM-SHA-512"
    username          = local.legacy_scram.username
    password          = local.legacy_scram.password
  }
  legacy_instance_tags = { Service = "kafka", Cluster = "orders-prod" }

  topics_include = ["orders\\..*", "payments\\..*"]
  topics_exclude = [".*\\.tmp", ".*-changelog"]

  msk = {
    kafka_version          = "3.9.x"
    number_of_broker_nodes = 6 # two per availability zone
    instance_type          = "kafka.m7g.2xlarge"
    client_subnets         = var.private_subnets
    security_groups        = [var.msk_security_group]
    storage_gb             = 4000
    kms_key_arn            = var.kms_key_arn
    client_broker          = "TLS"
    enhanced_monitoring    = "PER_TOPIC_PER_BROKER"
    server_properties      = <<-EOT
      auto.create.topics.enable=false
      default.replication.factor=3
      min.insync.replicas=2
      unclean.leader.election.enable=false
      num.partitions=12
    EOT
    tags                   = local.tags
  }
  target_auth        = "aws_msk_iam"
  replication_factor = 3

  producer_secret_id = "prod/orders/kafka-producers"
  consumer_secret_id = "prod/orders/kafka-consumers"
  client_settings = {
    security_protocol = "SASL_SSL"
    sasl_mechanism    = "AWS_MSK_IAM"
  }
  legacy_client_settings = {
    security_protocol = "SASL_SSL"
    sasl_mechanism    = "SCRAM-SHA-512"
  }
  consumer_groups = ["billing", "search-indexer", "fraud-scoring"]

  max_lag_records = 10000
  stable_for      = "2m"
  quiet_for       = "10m"
  gate_timeout    = "45m"
}

output "phase" {
  value = module.migration.phase
}

output "msk_cluster_arn" {
  value = module.migration.msk_cluster_arn
}

output "target_bootstrap_servers" {
  value = module.migration.target_bootstrap_servers
}
