//! Headless reports (JSON, CSV); `fsio` writes them.

use serde::Serialize;

use crate::config::LabConfig;
use crate::lab::sweep::DepthStats;
use crate::lab::theory::{Measured, Model, Moments};

/// The document `shatterlab grad` prints.
#[derive(Serialize)]
pub struct GradReport<'a> {
    pub config: &'a LabConfig,
    pub depths: Vec<DepthStats>,
}

/// One depth of `shatterlab theory`: formula beside measurement.
#[derive(Serialize)]
pub struct TheoryRow {
    pub depth: usize,
    pub theorem: Moments,
    pub theorem_correlation: f64,
    /// Theorem 3's 1/(β sqrt(L)), resnets with BN only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asymptote: Option<f64>,
    pub monte_carlo: Measured,
    /// Some number of this row is Inf/NaN (an extreme β or depth): the row is meaningless.
    pub overflow: bool,
    /// Theorem 3 with the centred stream variance, resnets with BN only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centred: Option<TheoryVariant>,
}

/// A variant of the theorem: its formula and its idealised model's Monte-Carlo.
#[derive(Serialize)]
pub struct TheoryVariant {
    pub model: Model,
    pub theorem: Moments,
    pub theorem_correlation: f64,
    pub monte_carlo: Measured,
}

/// Whether any number in `value`'s serialised form is not finite (serde_json writes those
/// as null), so a report can flag every field at once, including ones added later. Standard
/// errors (fields `se` and `*_se`) are left out: over a single net they are undefined (null),
/// which is not an overflow.
pub fn has_non_finite<T: Serialize>(value: &T) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Null => true,
            serde_json::Value::Array(items) => items.iter().any(walk),
            serde_json::Value::Object(map) => map
                .iter()
                .any(|(k, v)| !(k == "se" || k.ends_with("_se")) && walk(v)),
            _ => false,
        }
    }
    serde_json::to_value(value).map_or(true, |v| walk(&v))
}

/// The document `shatterlab theory` prints.
#[derive(Serialize)]
pub struct TheoryReport {
    pub model: Model,
    pub beta: f64,
    pub width: usize,
    pub trials: usize,
    pub seed: u64,
    pub depths: Vec<TheoryRow>,
}

/// Output format of headless reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

/// The grad report as pretty JSON.
pub fn grad_json(report: &GradReport) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}

/// The grad report as CSV: a `# config:` comment line, a header, one row per depth.
pub fn grad_csv(report: &GradReport) -> anyhow::Result<String> {
    let lags = report.depths.first().map_or(0, |d| d.acf.len());
    let mut out = format!("# config: {}\n", serde_json::to_string(report.config)?);
    out.push_str(
        "depth,grad_var,corr_neighbor,corr_neighbor_se,corr_far,corr_far_se,\
         integrated_grad_var,integrated_corr_neighbor,integrated_corr_neighbor_se,\
         integrated_corr_far,integrated_corr_far_se,\
         active_fraction,saturated_fraction,mean_run_length",
    );
    for k in 0..lags {
        out.push_str(&format!(",acf_{k}"));
    }
    for k in 0..lags {
        out.push_str(&format!(",acf_se_{k}"));
    }
    out.push('\n');
    for d in &report.depths {
        let (r, i) = (&d.random, &d.integrated);
        let mut row = format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            d.depth,
            r.grad_var,
            r.corr_neighbor,
            r.corr_neighbor_se,
            r.corr_far,
            r.corr_far_se,
            i.grad_var,
            i.corr_neighbor,
            i.corr_neighbor_se,
            i.corr_far,
            i.corr_far_se,
            d.active_fraction,
            d.saturated_fraction,
            d.mean_run_length
        );
        for v in d.acf.iter().chain(&d.acf_se) {
            row.push_str(&format!(",{v}"));
        }
        out.push_str(&row);
        out.push('\n');
    }
    Ok(out)
}

/// Refuses a report that would replace a file, unless `force`: the file `out`, or with
/// `csv_tables` those files in the folder `out`. Call it before the work.
pub fn check_new(
    out: &std::path::Path,
    csv_tables: Option<&[&str]>,
    force: bool,
) -> anyhow::Result<()> {
    match csv_tables {
        Some(tables) => tables
            .iter()
            .try_for_each(|name| crate::fsio::ensure_new(&out.join(name), force, "--out")),
        None => crate::fsio::ensure_new(out, force, "--out"),
    }
}

/// Writes each table `(file name, text)` into the folder `dir` (created if need be),
/// each file atomically.
pub fn write_tables<'a>(
    dir: &std::path::Path,
    tables: impl IntoIterator<Item = (&'a str, String)>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in tables {
        crate::fsio::write_file(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a"), "a");
        assert_eq!(
            csv_field(r#"{"a":1,"b":"x"}"#),
            r#""{""a"":1,""b"":""x""}""#
        );
    }
}
