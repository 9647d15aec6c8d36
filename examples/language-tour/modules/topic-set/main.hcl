# A child module: inputs are variables, results are outputs.

variable "topic_names" {
  type = list(string)
}

variable "environment" {
  type = string
}

resource "cutover_data" "manifest" {
  input = jsonencode({
    environment = var.environment
    topics      = sort(var.topic_names)
  })
}

output "summary" {
  value = "${length(var.topic_names)} topics for ${var.environment}"
}
