//! The file shape of a dialplan: one flow per file, nodes in an array. Every field any kind
//! may use is listed once here (serde cannot keep spans through an internally tagged enum),
//! so unknown keys are refused by the parser with their line, and the validator checks
//! which fields each kind needs or must not have.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub flow: FlowHead,
    #[serde(default, rename = "node")]
    pub nodes: Vec<RawNode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowHead {
    pub name: Spanned<String>,
    /// Dialled numbers that enter this flow.
    #[serde(default)]
    pub numbers: Vec<Spanned<String>>,
    pub start: Spanned<String>,
}

pub type S = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub id: S,
    pub kind: S,
    pub prompts: Option<Spanned<Vec<S>>>,
    pub next: Option<S>,
    pub choices: Option<Spanned<BTreeMap<String, S>>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub inter_digit_ms: Option<Spanned<u64>>,
    pub retries: Option<Spanned<u32>>,
    pub invalid_prompts: Option<Spanned<Vec<S>>>,
    pub timeout_prompts: Option<Spanned<Vec<S>>>,
    pub on_failure: Option<S>,
    pub var: Option<S>,
    pub value: Option<S>,
    pub min_len: Option<Spanned<u32>>,
    pub max_len: Option<Spanned<u32>>,
    pub terminator: Option<S>,
    pub timezone: Option<S>,
    pub open: Option<Spanned<Vec<S>>>,
    pub holidays: Option<Spanned<Vec<S>>>,
    pub when_open: Option<S>,
    pub when_closed: Option<S>,
    pub flow: Option<S>,
    pub queue: Option<S>,
    pub extension: Option<S>,
}

impl RawNode {
    /// The fields present, by name, for the "not allowed for this kind" check.
    pub fn present(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut v = Vec::new();
        macro_rules! f {
            ($($name:ident),*) => {$(
                if let Some(x) = &self.$name {
                    v.push((stringify!($name), x.span()));
                }
            )*};
        }
        f!(
            prompts,
            next,
            choices,
            timeout_ms,
            inter_digit_ms,
            retries,
            invalid_prompts,
            timeout_prompts,
            on_failure
        );
        f!(
            var,
            value,
            min_len,
            max_len,
            terminator,
            timezone,
            open,
            holidays,
            when_open,
            when_closed,
            flow,
            queue,
            extension
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_spans_kept() {
        let ok = "[flow]\nname = \"m\"\nstart = \"a\"\n[[node]]\nid = \"a\"\nkind = \"hangup\"\n";
        let f = toml::from_str::<RawFlow>(ok).expect("valid");
        assert_eq!(f.nodes[0].id.span(), 44..47);
        let typo = ok.replace("kind = \"hangup\"", "kind = \"hangup\"\nprompt = [\"x\"]");
        let e = toml::from_str::<RawFlow>(&typo).expect_err("typo refused");
        assert!(e.to_string().contains("prompt"), "{e}");
    }
}
