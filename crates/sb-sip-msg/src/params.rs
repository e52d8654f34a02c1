//! Generic `;name=value` parameters and the comma/semicolon splitting shared by every header
//! grammar of RFC 3261 §25.1. Splitting respects quoted strings and angle brackets.

use crate::method::is_token;
use std::fmt;

/// Parameters in the order they were received. Names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// The value of parameter `name`: `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The value of `name`, if present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// Whether parameter `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (or replaces) a parameter, keeping its position when it exists.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    /// Removes parameter `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Parses `;a=b;c` (the leading `;` of each parameter already split off by the caller).
    /// `value_ok` says which characters a value may hold besides a quoted string.
    pub(crate) fn parse_items<'a>(
        items: impl Iterator<Item = &'a str>,
        value_ok: fn(char) -> bool,
    ) -> Option<Params> {
        let mut out = Vec::new();
        for item in items {
            let item = item.trim_matches(is_lws);
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim_matches(is_lws), Some(v.trim_matches(is_lws))),
                None => (item, None),
            };
            if !is_token(name) {
                return None;
            }
            let value = match value {
                None => None,
                Some(v) if v.starts_with('"') => {
                    unquote(v)?;
                    Some(v.to_string())
                }
                Some(v) if !v.is_empty() && v.chars().all(value_ok) => Some(v.to_string()),
                Some(_) => return None,
            };
            out.push((name.to_string(), value));
        }
        Some(Params(out))
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

pub(crate) fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits on `sep` outside quoted strings and angle brackets.
pub fn split_outside(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => angle = true,
            '>' => angle = false,
            c if c == sep && !angle => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The contents of a quoted string (RFC 3261 §25.1 `quoted-string`) with escapes resolved.
/// The whole input must be the quoted string.
pub fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// Length in bytes of the quoted string at the start of `s`, including both quotes.
pub(crate) fn quoted_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i + 1);
        }
    }
    None
}

/// Characters of a generic-param value that is not quoted: token or a host (IPv6 references
/// and the bare IPv6 `received` values RFC 5118 §4.5 allows).
pub(crate) fn is_gen_value_char(c: char) -> bool {
    crate::method::is_token_char(c) || c == ':' || c == '[' || c == ']'
}

/// Splits a comma-separated header value into its elements, trimmed.
pub fn split_list(s: &str) -> impl Iterator<Item = &str> {
    split_outside(s, ',')
        .into_iter()
        .map(|p| p.trim_matches(is_lws))
        .filter(|p| !p.is_empty())
}
