//! What a migration costs and whether its target is big enough: price tables ([`prices`]) and
//! the sizing of an MSK cluster by AWS's per-broker guidance ([`sizing`]). Pure arithmetic
//! below the plan (its cost section), the assertions (`msk_sizing`) and the AWS provider
//! (which reads a user's price file); it imports nothing but `config`, and reads nothing but a user's price file.

pub mod prices;
pub mod sizing;
