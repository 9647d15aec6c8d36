//! AWS providers against moto (needs `scripts/env up`).
