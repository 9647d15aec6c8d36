output "phase" {
  value       = var.phase
  description = "the phase this configuration is in"
}

output "target_bootstrap_servers" {
  value       = local.target_bootstrap
  description = "the MSK bootstrap servers for the chosen authentication"
}

output "msk_cluster_arn" {
  value       = try(aws_msk_cluster.this[0].arn, data.aws_msk_cluster.existing[0].arn)
  description = "the target MSK cluster"
}

output "topics" {
  value       = local.topics
  description = "the migrated topics"
}

output "records_copied" {
  value       = kafka_mirror.this.records_copied
  description = "records the mirror copied in the last apply that ran it"
}

output "legacy_instances" {
  value       = sort(keys(aws_ec2_instance.legacy))
  description = "the legacy EC2 instances still managed (none after decommission)"
}
