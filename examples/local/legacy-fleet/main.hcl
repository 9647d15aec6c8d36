# What exists before the migration, in the local environment: the company's self-managed
# Kafka fleet on "EC2" (moto), its topics on the legacy ZooKeeper-mode cluster, and the Secrets
# Manager secrets its producers and consumers read their bootstrap servers from.
#
# scripts/demo applies this first (it stands in for infrastructure that already exists), then
# migrates it with ../main.hcl. Everything is named after var.prefix so runs do not collide.

variable "prefix" {
  type        = string
  default     = "shop"
  description = "names the topics (PREFIX.orders, ...), the secrets (PREFIX/producers) and the instances' Migration tag"
}

variable "legacy_bootstrap" {
  type    = string
  default = "127.0.0.1:19092"
}

variable "aws_endpoint" {
  type    = string
  default = "http://127.0.0.1:15000"
}

provider "aws" {
  region       = "us-east-1"
  endpoint_url = var.aws_endpoint
}

cluster "legacy" {
  bootstrap_servers = [var.legacy_bootstrap]
}

# Topics of different shapes: many partitions, a retention override, a single partition with
# a size limit, a compressed topic.
resource "kafka_topic" "legacy" {
  for_each = {
    orders   = { partitions = 6, config = { "retention.ms" = "604800000" } }
    payments = { partitions = 3, config = { "min.insync.replicas" = "1", "compression.type" = "lz4" } }
    audit    = { partitions = 1, config = { "retention.bytes" = "1073741824" } }
    clicks   = { partitions = 12, config = {} }
  }
  cluster    = cluster.legacy
  name       = "${var.prefix}.${each.key}"
  partitions = each.value.partitions
  config     = each.value.config
}

# Three brokers and a ZooKeeper node, as the EC2 instances they run on.
resource "aws_ec2_instance" "fleet" {
  for_each      = toset(["broker-1", "broker-2", "broker-3", "zookeeper-1"])
  ami           = "ami-12c6146b"
  instance_type = "m5.xlarge"
  tags = {
    Name      = "${var.prefix}-${each.key}"
    Role      = startswith(each.key, "broker") ? "kafka-broker" : "zookeeper"
    Migration = var.prefix
  }
}

resource "aws_secretsmanager_secret" "app" {
  for_each                = toset(["producers", "consumers"])
  name                    = "${var.prefix}/${each.key}"
  description             = "the Kafka connection of the ${var.prefix} ${each.key}"
  recovery_window_in_days = 0
}

# The value the applications read today: the legacy brokers. The migration flips it.
resource "aws_secretsmanager_secret_version" "app" {
  for_each      = aws_secretsmanager_secret.app
  secret_id     = each.value.arn
  secret_string = jsonencode({ bootstrap_servers = var.legacy_bootstrap })
  visible_keys  = ["bootstrap_servers"]
  lifecycle {
    ignore_changes = [secret_string]
  }
}

output "topics" {
  value = sort([for topic in kafka_topic.legacy : topic.name])
}
