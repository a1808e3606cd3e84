//! Headless reports (JSON, CSV); `fsio` writes them.

use serde::Serialize;

use crate::config::LabConfig;
use crate::lab::infinite::Limit;
use crate::lab::readout::PairStats;
use crate::lab::sweep::DepthStats;
use crate::lab::theory::{Measured, Model, Moments};

/// The document `shatterlab grad` prints.
#[derive(Serialize)]
pub struct GradReport<'a> {
    pub config: &'a LabConfig,
    /// How the infinite-width limit of each depth was obtained, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infinite_width: Option<&'a Limit>,
    pub depths: Vec<GradDepth>,
    /// `--widths`: the same nets at other widths beside the limit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finite_width: Vec<WidthCurve>,
}

/// One depth of `grad`: the sweep's statistics and the infinite-width limit's.
#[derive(Serialize)]
pub struct GradDepth {
    #[serde(flatten)]
    pub stats: DepthStats,
    /// The N → ∞ limit of `integrated`, with the same fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infinite_width: Option<PairStats>,
}

/// The nets of one width at the reported depths.
#[derive(Serialize)]
pub struct WidthCurve {
    pub width: usize,
    pub depths: Vec<WidthDepth>,
}

/// One depth of one width: the integrated readout's summaries and their distance from the
/// limit (measured minus limit), which shrinks roughly like 1/width.
#[derive(Serialize)]
pub struct WidthDepth {
    pub depth: usize,
    pub integrated: PairStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corr_far_gap: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corr_neighbor_gap: Option<f64>,
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
    /// `--infinite-width`: the lab's nets at N → ∞ (not the idealised model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infinite_width: Option<PairStats>,
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
pub struct TheoryReport<'a> {
    pub model: Model,
    pub beta: f64,
    pub width: usize,
    pub trials: usize,
    pub seed: u64,
    /// How the rows' `infinite_width` was obtained, when asked for and available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infinite_width: Option<&'a Limit>,
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

/// The grad report as CSV: a `# config:` comment line, a header, one row per depth; the
/// infinite-width limit's columns come last, when there is one.
pub fn grad_csv(report: &GradReport) -> anyhow::Result<String> {
    let limit = report.infinite_width.is_some();
    let lags = report.depths.first().map_or(0, |d| d.stats.acf.len());
    let mut out = format!("# config: {}\n", serde_json::to_string(report.config)?);
    out.push_str(
        "depth,grad_var,corr_neighbor,corr_neighbor_se,corr_far,corr_far_se,\
         integrated_grad_var,integrated_corr_neighbor,integrated_corr_neighbor_se,\
         integrated_corr_far,integrated_corr_far_se,\
         active_fraction,saturated_fraction,mean_run_length,overflow,roundoff,roundoff_error",
    );
    for k in 0..lags {
        out.push_str(&format!(",acf_{k}"));
    }
    for k in 0..lags {
        out.push_str(&format!(",acf_se_{k}"));
    }
    if limit {
        out.push_str(
            ",infinite_grad_var,infinite_corr_neighbor,infinite_corr_neighbor_se,\
             infinite_corr_far,infinite_corr_far_se",
        );
    }
    out.push('\n');
    for (d, l) in report.depths.iter().map(|d| (&d.stats, &d.infinite_width)) {
        let (r, i) = (&d.random, &d.integrated);
        let mut row = format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
            d.mean_run_length,
            d.overflow,
            d.roundoff,
            d.roundoff_error
        );
        for v in d.acf.iter().chain(&d.acf_se) {
            row.push_str(&format!(",{v}"));
        }
        if let Some(l) = l.as_ref().filter(|_| limit) {
            row.push_str(&format!(
                ",{},{},{},{},{}",
                l.grad_var, l.corr_neighbor, l.corr_neighbor_se, l.corr_far, l.corr_far_se
            ));
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
