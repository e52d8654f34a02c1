//! Switchboard's configuration: TOML in two phases. Phase one ([`raw`]) parses the file's
//! shape and rejects unknown keys; phase two ([`validate`]) checks meaning and reports every
//! problem at once, each with file, line and a stable code, then builds the typed [`Model`]
//! the runtime uses.
//!
//! ```text
//! match sb_config::load(Source { name, text }, &overrides) {
//!     Ok(model) => { /* sb_runtime::build(&model, assets) */ }
//!     Err(diagnostics) => for d in diagnostics { eprintln!("{d}") },   // file:line: error[CODE]: ...
//! }
//! ```

pub mod assets;
pub mod build;
pub mod dialplan;
pub mod model;
mod outside;
pub mod overrides;
pub mod raw;
pub mod shape;
pub mod validate;

pub use model::{ExtensionKind, Model};

use std::fmt;

/// One problem in a configuration, with where it is and a code that stays the same across
/// releases so operators and scripts can look it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub file: String,
    /// 1-based; 0 when the problem has no place in the file (a missing key, a `--set`).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}: error[{}]: {}",
                self.file, self.line, self.code, self.message
            )
        } else {
            write!(f, "{}: error[{}]: {}", self.file, self.code, self.message)
        }
    }
}

/// A configuration text and the name to report it under.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

/// Reads, overrides and validates a configuration. `sets` are `KEY=VALUE` overrides by
/// dotted path, applied before parsing so they are validated like the file.
pub fn load(source: Source, sets: &[String]) -> Result<Model, Vec<Diagnostic>> {
    let source = overrides::apply(source, sets)?;
    let (raw, shape) = shape::from_str_all::<raw::RawConfig>(&source.text);
    let mut diags: Vec<Diagnostic> = shape
        .into_iter()
        .map(|e| Diagnostic {
            code: "SB001",
            file: source.name.clone(),
            line: if e.span.is_empty() && e.span.start == 0 {
                0
            } else {
                source.line_of(e.span.start)
            },
            message: e.message,
        })
        .collect();
    // What is left after the shape's problems is still checked for meaning, so one run
    // reports everything.
    let Some(raw) = raw else {
        return Err(diags);
    };
    match validate::validate(&source, &raw) {
        Ok(model) if diags.is_empty() => Ok(model),
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            Err(diags)
        }
    }
}
