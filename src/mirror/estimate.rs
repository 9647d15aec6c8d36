//! What a plan says an embedded `kafka_mirror` will copy ([`CopyEstimate`]) and how the
//! renderers word it. Pure data: the provider measures it at plan time
//! (`providers::kafka::mirror_estimate`); nothing here does I/O. The estimate is shown, never
//! compared: a saved plan stays applicable while the source keeps receiving records.

use serde::Serialize;

/// Records, bytes and time a mirror's apply is expected to copy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyEstimate {
    pub topics: usize,
    /// Partitions read on the source (0 when the source could not be read).
    pub partitions: usize,
    /// Records to copy: the source partitions' end minus start offsets, minus what the target
    /// already holds. `None` when the source cannot be read at plan time.
    pub records: Option<u64>,
    /// Their size on the source brokers' disks (DescribeLogDirs, in proportion to the records
    /// to copy). `None` where the brokers do not report log sizes.
    pub bytes: Option<u64>,
    /// The rate the duration is computed at.
    pub records_per_second: f64,
    pub rate_source: RateSource,
    /// `records / records_per_second`, when records are known.
    pub seconds: Option<f64>,
    /// Why a figure is missing or approximate ("bytes: the brokers (0.8.2) do not report log
    /// sizes").
    pub notes: Vec<String>,
}

/// Where the rate of a [`CopyEstimate`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// `records_per_second` recorded in state by the mirror's last apply.
    LastApply,
    /// No apply has measured this mirror yet: the stated default.
    Default,
}

impl CopyEstimate {
    /// One line: `will copy about 12,000 records (11.7 MiB) in about 1m 0s at 200 records/s
    /// (the rate of its last apply)`, then the notes.
    pub fn summary(&self) -> String {
        let mut text = match self.records {
            Some(records) => {
                let mut text = format!("will copy about {} records", group_digits(records));
                if let Some(bytes) = self.bytes {
                    text.push_str(&format!(" ({})", human_bytes(bytes)));
                }
                match self.seconds {
                    Some(seconds) if seconds < 1.0 => text.push_str(" in under 1s"),
                    Some(seconds) => {
                        text.push_str(&format!(" in about {}", human_seconds(seconds)))
                    }
                    None => {}
                }
                text.push_str(&format!(
                    " at {} records/s ({})",
                    group_digits(self.records_per_second.round() as u64),
                    match self.rate_source {
                        RateSource::LastApply => "the rate of its last apply",
                        RateSource::Default => "a default rate: no apply has measured it yet",
                    }
                ));
                text
            }
            None => "will copy an amount not known at plan time".to_owned(),
        };
        for note in &self.notes {
            text.push_str("; ");
            text.push_str(note);
        }
        text
    }
}

/// `1234567` as `1,234,567`.
pub fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes in binary units with one decimal: `512 B`, `11.7 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `0.4` as `under 1s`, `75` as `1m 15s`, `7300` as `2h 1m`.
pub fn human_seconds(seconds: f64) -> String {
    if seconds < 1.0 {
        return "under 1s".to_owned();
    }
    let total = seconds.round() as u64;
    let (hours, minutes, secs) = (total / 3600, total % 3600 / 60, total % 60);
    if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(records: Option<u64>, bytes: Option<u64>, rate_source: RateSource) -> CopyEstimate {
        CopyEstimate {
            topics: 2,
            partitions: 4,
            records,
            bytes,
            records_per_second: 200.0,
            rate_source,
            seconds: records.map(|r| r as f64 / 200.0),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_summary_gives_records_bytes_and_time() {
        assert_eq!(
            estimate(Some(12_000), Some(12_288_000), RateSource::LastApply).summary(),
            "will copy about 12,000 records (11.7 MiB) in about 1m 0s at 200 records/s (the rate of its last apply)"
        );
        let mut without_bytes = estimate(Some(100), None, RateSource::Default);
        without_bytes
            .notes
            .push("bytes: the brokers (0.8.2) do not report log sizes".to_owned());
        assert_eq!(
            without_bytes.summary(),
            "will copy about 100 records in under 1s at 200 records/s (a default rate: no apply has measured it yet); bytes: the brokers (0.8.2) do not report log sizes"
        );
        assert_eq!(
            estimate(None, None, RateSource::Default).summary(),
            "will copy an amount not known at plan time"
        );
    }

    #[test]
    fn units() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1,000");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_seconds(0.2), "under 1s");
        assert_eq!(human_seconds(75.0), "1m 15s");
        assert_eq!(human_seconds(7300.0), "2h 1m");
    }
}
