# A tour of the configuration language, using only the built-in cutover_data resource so it
# validates and plans without Kafka or AWS. `cutover validate -chdir examples/language-tour`.

variable "environment" {
  type        = string
  description = "Which environment this migration runs in"
  default     = "staging"

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production"
  }
}

variable "topics" {
  type = map(object({
    partitions = number
    retention  = optional(string, "7d")
  }))
  default = {
    "orders.created"  = { partitions = 12 }
    "orders.shipped"  = { partitions = 6, retention = "30d" }
    "payments.events" = { partitions = 24 }
  }
}

variable "scram_password" {
  type      = string
  sensitive = true
  default   = "change-me"
}

locals {
  prefix        = "${var.environment}-orders"
  order_topics  = { for name, topic in var.topics : name => topic if startswith(name, "orders.") }
  total_parts   = sum([for topic in values(var.topics) : topic.partitions])
  broker_string = join(",", [for i in range(3) : format("b-%d.local:9096", i + 1)])
}

cluster "legacy" {
  bootstrap_servers = ["127.0.0.1:19092"]
  broker_version    = "0.8.2"
  zookeeper         = "127.0.0.1:12181/legacy"
}

cluster "target" {
  bootstrap_servers = local.broker_string
  security_protocol = "SASL_PLAINTEXT"
  sasl_mechanism    = "SCRAM-SHA-512"
  sasl_username     = "cutover"
  sasl_password     = var.scram_password
}

resource "cutover_data" "topic" {
  for_each = var.topics

  input = {
    name       = "${local.prefix}.${each.key}"
    partitions = each.value.partitions
    retention  = each.value.retention
  }
}

resource "cutover_data" "replica" {
  count = 2

  input            = "replica-${count.index}"
  triggers_replace = length(cutover_data.topic)

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [input]
  }
}

module "secrets" {
  source      = "./modules/topic-set"
  topic_names = [for topic in cutover_data.topic : topic.input.name]
  environment = var.environment
}

assert "partition_budget" {
  condition     = local.total_parts <= 64
  error_message = "more partitions than the target cluster is sized for"
  timeout       = "30s"
}

output "order_topics" {
  value       = keys(local.order_topics)
  description = "Topics whose names start with orders."
}

output "summary" {
  value = module.secrets.summary
}

output "target_password" {
  value     = var.scram_password
  sensitive = true
}
