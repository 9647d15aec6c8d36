//! Built-in types that need no external system. `cutover_data` is Terraform's
//! `terraform_data`: it stores a value, exposes it as `output`, and is replaced when
//! `triggers_replace` changes; it makes the engine testable without Kafka or AWS.

use crate::config::schema::{AttributeSchema, Schema};
use crate::config::types::Type;

pub const CUTOVER_DATA: &str = "cutover_data";

pub fn cutover_data_schema() -> Schema {
    Schema::new(
        vec![
            AttributeSchema::optional("input", Type::Any)
                .describe("any value; stored in state and copied to output"),
            AttributeSchema::optional("triggers_replace", Type::Any)
                .forces_replacement()
                .describe("any value; a change replaces the resource"),
            AttributeSchema::computed("output", Type::Any)
                .describe("the input value, once applied"),
            AttributeSchema::computed("id", Type::String)
                .describe("a unique id assigned at creation"),
        ],
        Vec::new(),
    )
}
