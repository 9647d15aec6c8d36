//! The error of an operation against a remote system (a Kafka cluster, an AWS API, a Kafka
//! Connect worker): what providers, the mirror and the assertions return. Messages are
//! lower-case, name the object and the remote system's reason, and never include a sensitive
//! value.

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// The remote system refused or failed the operation.
    #[error("{0}")]
    Failed(String),
    /// The configuration is valid HCL but not acceptable (e.g. a partition decrease); the
    /// engine points the diagnostic at the block.
    #[error("{0}")]
    Invalid(String),
    /// The run was interrupted before the operation finished.
    #[error("interrupted")]
    Cancelled,
}

pub type OperationResult<T> = Result<T, OperationError>;
