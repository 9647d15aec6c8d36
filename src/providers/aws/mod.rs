//! AWS providers: MSK configurations and clusters, Secrets Manager secrets and versions, EC2
//! instances, configured by the root `provider "aws"` block.

use super::Registry;

/// Adds the AWS types and the `provider "aws"` settings to the registry.
pub fn register(_registry: &mut Registry) {}
