//! The prices a plan's cost section uses: the built-in table (`pricing/us-east-1.json`), or the
//! file named by `provider "aws" { price_file = "…" }` merged over it. Read from disk here, at
//! plan time, so `plan` itself stays free of I/O; nothing is fetched from the network.

use std::collections::BTreeMap;

use crate::config::evaluate::ResourceAddress;
use crate::config::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::plan::Plan;
use crate::plan::cost::{self, BUILTIN_PRICES_NAME, PriceTable};
use crate::plan::sizing::Guidance;
use crate::providers::Connections;

/// A price file larger than this is not a price table.
const MAX_PRICE_FILE_BYTES: u64 = 1 << 20;

/// The price table to use and how the plan names it.
pub fn price_table(connections: &Connections) -> Result<(PriceTable, String), String> {
    let settings = connections.provider(super::PROVIDER);
    let value = settings
        .peel()
        .as_map()
        .and_then(|map| map.get("price_file"))
        .cloned();
    let Some(file) = value
        .as_ref()
        .and_then(|value| value.peel().as_str())
        .map(str::to_owned)
    else {
        return Ok((PriceTable::builtin(), BUILTIN_PRICES_NAME.to_owned()));
    };
    // A path from a sensitive value is not printed.
    let shown = if value.as_ref().is_some_and(Value::contains_sensitive) {
        "(sensitive value)".to_owned()
    } else {
        format!("{file:?}")
    };
    let size = std::fs::metadata(&file)
        .map_err(|error| format!("price_file {shown} cannot be read: {error}"))?
        .len();
    if size > MAX_PRICE_FILE_BYTES {
        return Err(format!(
            "price_file {shown} is larger than 1 MiB: it is not a price table"
        ));
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|error| format!("price_file {shown} cannot be read: {error}"))?;
    let table = PriceTable::with_overrides(&text)
        .map_err(|error| format!("price_file {shown} is not a price table: {error}"))?;
    Ok((table, format!("price_file {}", shown.trim_matches('"'))))
}

/// Attaches the cost and sizing section to `plan`; a price file that cannot be used is an
/// error, an undersized target a warning (and the section says so).
pub fn attach_economics(
    plan: &mut Plan,
    data: &BTreeMap<ResourceAddress, Value>,
    connections: &Connections,
    diagnostics: &mut Diagnostics,
) {
    let (prices, name) = match price_table(connections) {
        Ok(found) => found,
        Err(error) => {
            diagnostics.push(Diagnostic::error(format!("provider \"aws\": {error}")));
            return;
        }
    };
    plan.economics = cost::economics(plan, data, &prices, &name, &Guidance::builtin());
    if let Some(economics) = &plan.economics {
        for sizing in economics.undersized() {
            diagnostics.push(Diagnostic::warning(format!(
                "the target is undersized by AWS's per-broker guidance: {}",
                sizing.summary()
            )));
        }
    }
}
