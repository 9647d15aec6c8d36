//! Price tables: what a unit of EC2, EBS, MSK and data transfer costs in one region, from the
//! table in the repository (`pricing/us-east-1.json`, with its region, date and sources) or a
//! user's price file merged over it ([`price_table`], which reads that file: the only I/O here).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::connections::Connections;
use crate::config::value::Value;

/// The built-in prices.
pub const BUILTIN_PRICES_JSON: &str = include_str!("../../pricing/us-east-1.json");
/// Where the built-in prices come from, as the plan names them.
pub const BUILTIN_PRICES_NAME: &str = "built in: pricing/us-east-1.json";

/// Prices per unit, one region. Every entry of a user's price file replaces the built-in one
/// (maps entry by entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    #[serde(default, skip_serializing)]
    pub about: Option<String>,
    pub region: String,
    pub currency: String,
    /// When the prices were taken from their sources.
    pub date: String,
    #[serde(default)]
    pub sources: Vec<String>,
    pub hours_per_month: f64,
    pub ec2_instance_per_hour: BTreeMap<String, f64>,
    pub ebs_per_gb_month: BTreeMap<String, f64>,
    pub msk_broker_per_hour: BTreeMap<String, f64>,
    pub msk_storage_per_gb_month: f64,
    /// Data moved between availability zones, both directions together (per GB).
    pub inter_az_per_gb: f64,
    /// How many times each written byte is read by consumers.
    pub consumer_fanout: f64,
    /// The instance an embedded mirror is assumed to run on.
    pub mirror_instance_type: String,
}

impl PriceTable {
    pub fn builtin() -> PriceTable {
        serde_json::from_str(BUILTIN_PRICES_JSON).expect("the built-in price table is valid")
    }

    /// The built-in table with a user's file (`text`) merged over it: objects entry by entry,
    /// everything else replaced.
    pub fn with_overrides(text: &str) -> Result<PriceTable, String> {
        let user: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
        let serde_json::Value::Object(user) = user else {
            return Err("it must be a JSON object like pricing/us-east-1.json".to_owned());
        };
        let mut merged: serde_json::Value =
            serde_json::from_str(BUILTIN_PRICES_JSON).expect("the built-in price table is JSON");
        let base = merged.as_object_mut().expect("an object");
        for (key, value) in user {
            match (base.get_mut(&key), value) {
                (Some(serde_json::Value::Object(into)), serde_json::Value::Object(entries)) => {
                    into.extend(entries)
                }
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
        serde_json::from_value(merged).map_err(|error| error.to_string())
    }

    pub fn monthly_seconds(&self) -> f64 {
        self.hours_per_month * 3600.0
    }

    /// The monthly price of moving `bytes_per_second` between zones.
    pub fn transfer_monthly(&self, bytes_per_second: f64) -> f64 {
        bytes_per_second * self.monthly_seconds() / 1e9 * self.inter_az_per_gb
    }
}

/// A price file larger than this is not a price table.
const MAX_PRICE_FILE_BYTES: u64 = 1 << 20;

/// The price table to use and how the plan names it: the built-in one, or the file that
/// `provider "aws" { price_file = "…" }` names merged over it. The one read from disk of this
/// module, at plan time (so `plan` itself stays free of I/O); nothing is fetched.
pub fn price_table(connections: &Connections) -> Result<(PriceTable, String), String> {
    let settings = connections.provider("aws");
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

/// An amount of money with two decimals and grouped thousands: `1,234.56`, `-3.00`.
pub fn money(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    let mut grouped = String::with_capacity(units.len() + units.len() / 3);
    for (index, digit) in units.chars().enumerate() {
        if index > 0 && (units.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02}", cents % 100)
}
