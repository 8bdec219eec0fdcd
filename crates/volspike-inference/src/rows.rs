//! Client feature rows to model inputs, with every problem named.
//!
//! Bad input is `INVALID_ARGUMENT` with a `google.rpc.BadRequest` detail that
//! lists each violation by field path (`rows[2].named[trade_intensity]`), so
//! a client can fix all of them at once.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use volspike_proto::volspike::v1::FeatureRow;

use crate::model::LoadedModel;

/// Most violations listed in one error (a huge bad batch must not make a huge
/// error).
const MAX_VIOLATIONS: usize = 20;

/// Violations found in a request.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Records one violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.0.len() < MAX_VIOLATIONS {
            self.0.push(FieldViolation::new(field, description));
        }
    }

    /// True when nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was wrong, else `INVALID_ARGUMENT` listing them.
    pub fn into_result(self) -> Result<(), Box<Status>> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(Box::new(invalid_argument(self.0)))
    }
}

/// `INVALID_ARGUMENT` with a `BadRequest` detail; the message repeats the
/// first violations for clients that do not read details.
pub fn invalid_argument(violations: Vec<FieldViolation>) -> Status {
    let mut message = violations
        .iter()
        .take(3)
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > 3 {
        message.push_str(&format!("; and {} more", violations.len() - 3));
    }
    Status::with_error_details(
        Code::InvalidArgument,
        message,
        ErrorDetails::with_bad_request(violations),
    )
}

/// Appends the model inputs of `row` (in model order) to `out`, or records
/// why it cannot: neither or both of `named` and `values`, a wrong count,
/// unknown or missing names, NaN or infinite values. `field` is the row's
/// path in the request (`row`, `rows[3]`).
pub fn append_inputs(
    model: &LoadedModel,
    row: &FeatureRow,
    field: &str,
    out: &mut Vec<f64>,
    violations: &mut Violations,
) {
    let names = model.feature_names();
    match (row.named.is_empty(), row.values.is_empty()) {
        (true, true) => {
            violations.add(
                field,
                format!(
                    "no features: give `named` or `values` ({} inputs: {})",
                    names.len(),
                    names.join(", ")
                ),
            );
        }
        (false, false) => {
            violations.add(field, "give either `named` or `values`, not both");
        }
        (true, false) => {
            if row.values.len() != names.len() {
                violations.add(
                    format!("{field}.values"),
                    format!(
                        "expected {} values in the model's order ({}), got {}",
                        names.len(),
                        names.join(", "),
                        row.values.len()
                    ),
                );
                return;
            }
            for (i, (v, name)) in row.values.iter().zip(names).enumerate() {
                if !v.is_finite() {
                    violations.add(format!("{field}.values[{i}]"), format!("{name} is {v}"));
                }
            }
            out.extend_from_slice(&row.values);
        }
        (false, true) => {
            let mut unknown: Vec<&String> =
                row.named.keys().filter(|k| !names.contains(k)).collect();
            unknown.sort();
            for k in unknown {
                violations.add(
                    format!("{field}.named[{k}]"),
                    format!("not an input of this model (inputs: {})", names.join(", ")),
                );
            }
            for name in names {
                match row.named.get(name) {
                    Some(v) if v.is_finite() => out.push(*v),
                    Some(v) => {
                        violations.add(format!("{field}.named[{name}]"), format!("is {v}"));
                        out.push(f64::NAN);
                    }
                    None => {
                        violations.add(format!("{field}.named[{name}]"), "missing");
                        out.push(f64::NAN);
                    }
                }
            }
        }
    }
}
