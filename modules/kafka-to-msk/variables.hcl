# Inputs of the kafka-to-msk migration module. See README.md in this directory.

variable "phase" {
  type        = string
  description = "Where the migration stands: mirror, cutover_producers, cutover_consumers or decommission. Each pull request moves it one step."

  validation {
    condition     = contains(["mirror", "cutover_producers", "cutover_consumers", "decommission"], var.phase)
    error_message = "phase must be one of mirror, cutover_producers, cutover_consumers, decommission (in that order, one step per pull request)"
  }
}

variable "name" {
  type        = string
  description = "The migration's name: the MSK cluster and configuration are named after it"
}

# --- the source: the self-managed cluster on EC2 ---------------------------------------------

variable "source_bootstrap_servers" {
  type        = list(string)
  description = "host:port of the legacy brokers"
}

variable "source_broker_version" {
  type        = string
  default     = null
  description = "the legacy brokers' Kafka version when older than 0.10 (e.g. 0.8.2)"
}

variable "source_zookeeper" {
  type        = string
  default     = null
  description = "the legacy cluster's ZooKeeper (host:port/chroot): topic configs and 0.8-era consumer offsets of old brokers live there"
}

variable "source_auth" {
  type = object({
    security_protocol = optional(string, "SASL_SSL")
    sasl_mechanism    = optional(string, "SCRAM-SHA-512")
    username          = string
    password          = string
    tls_ca_file       = optional(string)
  })
  default     = null
  sensitive   = true
  description = "how cutover authenticates to the legacy cluster (SASL/SCRAM); null: plaintext"
}

variable "legacy_instance_tags" {
  type        = map(string)
  description = "tags that find the legacy brokers' (and ZooKeeper's) EC2 instances; they are adopted and terminated in the decommission phase"
}

variable "topics_include" {
  type        = list(string)
  default     = [".*"]
  description = "whole-name regular expressions of the source topics to migrate"
}

variable "topics_exclude" {
  type        = list(string)
  default     = []
  description = "whole-name regular expressions of source topics to leave behind"
}

variable "drop_topic_configs" {
  type        = list(string)
  default     = ["message.format.version", "message.downconversion.enable", "file.delete.delay.ms"]
  description = "topic configs of the source not carried over (removed in the target's Kafka version)"
}

variable "replication_factor" {
  type        = number
  default     = null
  description = "replication factor of the target topics (default: the target brokers' default)"
}

# --- the target: Amazon MSK ------------------------------------------------------------------

variable "existing_cluster_arn" {
  type        = string
  default     = null
  description = "migrate into this existing MSK cluster instead of creating one (msk is then ignored)"
}

variable "msk" {
  type = object({
    kafka_version          = optional(string, "3.9.x")
    number_of_broker_nodes = optional(number, 3)
    instance_type          = optional(string, "kafka.m7g.large")
    client_subnets         = list(string)
    security_groups        = optional(list(string), [])
    storage_gb             = optional(number, 1000)
    server_properties      = optional(string, "auto.create.topics.enable=false\ndefault.replication.factor=3\nmin.insync.replicas=2\n")
    kms_key_arn            = optional(string)
    client_broker          = optional(string, "TLS")
    enhanced_monitoring    = optional(string, "DEFAULT")
    tags                   = optional(map(string), {})
  })
  default     = null
  description = "the MSK cluster to create (required unless existing_cluster_arn is set)"
}

variable "target_auth" {
  type        = string
  default     = "aws_msk_iam"
  description = "how cutover and the applications connect to MSK: aws_msk_iam, scram, tls or plaintext"

  validation {
    condition     = contains(["aws_msk_iam", "scram", "tls", "plaintext"], var.target_auth)
    error_message = "target_auth must be aws_msk_iam, scram, tls or plaintext"
  }
}

variable "target_scram" {
  type = object({
    username = string
    password = string
  })
  default     = null
  sensitive   = true
  description = "target_auth = scram: the credentials cutover uses (from a Secrets Manager data source or a sensitive variable)"
}

# --- the applications ------------------------------------------------------------------------

variable "producer_secret_id" {
  type        = string
  description = "the Secrets Manager secret the producers read their connection from"
}

variable "consumer_secret_id" {
  type        = string
  description = "the Secrets Manager secret the consumers read their connection from"
}

variable "client_settings" {
  type        = map(string)
  default     = {}
  description = "extra keys written into both secrets for the target (e.g. security_protocol, sasl_mechanism)"
}

variable "legacy_client_settings" {
  type        = map(string)
  default     = {}
  description = "extra keys of the secrets' legacy value (kept exactly as the applications read it today)"
}

variable "consumer_groups" {
  type        = list(string)
  description = "the consumer groups whose committed offsets move to the target before the consumers do"
}

# --- access ----------------------------------------------------------------------------------

variable "copy_acls" {
  type        = bool
  default     = true
  description = "re-create the source's ACL bindings on the target before any application moves, checked by assert.access_migrated; nothing is copied with target_auth = aws_msk_iam, where MSK applies IAM policies instead of Kafka ACLs"
}

variable "acl_principals" {
  type        = list(string)
  default     = null
  description = "copy only the bindings of these source principals (e.g. [\"User:orders-app\"]); null or empty: every binding"
}

variable "principal_map" {
  type        = map(string)
  default     = {}
  description = "source principal => target principal, for an application that authenticates as someone else on the target (e.g. { \"User:CN=orders\" = \"User:orders\" }); a principal not listed is kept"
}

# --- the mirror and the gates ----------------------------------------------------------------

variable "mirror_offsets" {
  type        = string
  default     = "preserve"
  description = "preserve (target offsets equal the source's) or translate (an exact offset map)"
}

variable "mirror_max_in_flight_mb" {
  type    = number
  default = 64
}

variable "max_lag_records" {
  type        = number
  default     = 1000
  description = "cutover_producers: the mirror must keep within this many records of the source"
}

variable "stable_for" {
  type        = string
  default     = "30s"
  description = "how long the lag gates must hold continuously"
}

variable "quiet_for" {
  type        = string
  default     = "2m"
  description = "how long the legacy topics must see no writes before the consumers move, and before the fleet is terminated"
}

variable "decommission_scope" {
  type        = string
  default     = "cluster"
  description = "what must be unused before the legacy fleet is terminated: cluster (every topic and consumer group of the legacy cluster) or migration (the migrated topics and consumer_groups only, for a cluster shared with other work)"

  validation {
    condition     = contains(["cluster", "migration"], var.decommission_scope)
    error_message = "decommission_scope must be cluster or migration"
  }
}

variable "gate_timeout" {
  type        = string
  default     = "15m"
  description = "how long an apply waits for a gate before it fails (exit 3, nothing gated applied)"
}

# --- cost and sizing -------------------------------------------------------------------------

variable "traffic_window" {
  type        = string
  default     = "10s"
  description = "how long each plan measures the legacy topics' traffic (data \"kafka_traffic\") for its cost and sizing section; longer windows smooth bursts"
}

variable "enforce_sizing" {
  type        = bool
  default     = false
  description = "mirror phase: fail the apply (assert.msk_sized, exit 3) when the MSK cluster is smaller than AWS's per-broker guidance for the measured traffic; the plan says so either way"
}
