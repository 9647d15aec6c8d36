//! The mirror: copies topics from a source cluster to a target cluster exactly, with offsets
//! preserved or translated through an exact offset map.

pub mod copy;
pub mod offset_map;
