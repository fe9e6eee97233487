//! Value conditions such as `"> 0"`: written in lab files, checked by the loader,
//! applied by the probes.

use std::fmt;

/// The operator of a value comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Eq,
    Ne,
    Lt,
    Le,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// A value condition such as `"> 0"` or `"== 3"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub op: Op,
    pub value: f64,
}

impl Comparison {
    /// `"> 0"`, `">= 1"`, `"== 3"`, `"< 10"`, `"<= 2"`, `"!= 0"`; spaces optional.
    pub fn parse(s: &str) -> Option<Comparison> {
        let s = s.trim();
        // Two-character operators first, so `>=` is not read as `>` then `=1`.
        let ops = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        let (op, rest) = ops
            .iter()
            .find_map(|(sym, op)| s.strip_prefix(sym).map(|rest| (*op, rest)))?;
        let value = parse_number(rest.trim())?;
        if value.is_nan() {
            return None;
        }
        Some(Comparison { op, value })
    }

    /// Whether `v` satisfies the comparison; `tolerance` widens `==` and `!=`.
    /// NaN satisfies nothing: it is no measurement.
    pub fn holds(&self, v: f64, tolerance: f64) -> bool {
        if v.is_nan() {
            return false;
        }
        let equal = v == self.value || (v - self.value).abs() <= tolerance;
        match self.op {
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Eq => equal,
            Op::Ne => !equal,
        }
    }

    pub fn describe(&self, tolerance: f64) -> String {
        if tolerance > 0.0 && matches!(self.op, Op::Eq | Op::Ne) {
            format!("{self} (±{})", show_number(tolerance))
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), show_number(self.value))
    }
}

/// A number as Prometheus writes it: also `NaN`, `+Inf`, `-Inf`.
pub fn parse_number(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

pub fn show_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // `1` rather than `1.0`, `0.25` as is.
        let s = format!("{v}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    }
}
