//! `name-addr` / `addr-spec` with header parameters: From, To, Contact, Route, Refer-To,
//! P-Asserted-Identity (RFC 3261 §20.10, §25.1).

use crate::error::ParseError;
use crate::method::is_token_char;
use crate::params::{is_gen_value_char, is_lws, quoted_len, split_outside, unquote, Params};
use crate::uri::Uri;
use std::fmt;

/// A name-addr or addr-spec with its header parameters (From, To, Contact, Refer-To).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as received: a quoted string with its quotes, or tokens.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// The header parameters (`tag`, `expires`, ...).
    pub params: Params,
}

impl NameAddr {
    /// An addr-spec with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Reads a name-addr or addr-spec.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = s.trim_matches(is_lws);
        let bad = ParseError::Uri("bad name-addr");
        let (display, uri, rest) = if s.starts_with('"') {
            let qlen = quoted_len(s).ok_or(ParseError::Uri("unbalanced quotes"))?;
            let after = s[qlen..].trim_start_matches(is_lws);
            let inner = after.strip_prefix('<').ok_or(bad.clone())?;
            let end = inner.find('>').ok_or(bad.clone())?;
            (
                Some(s[..qlen].to_string()),
                &inner[..end],
                &inner[end + 1..],
            )
        } else if let Some(lt) = s.find('<') {
            let display = s[..lt].trim_matches(is_lws);
            let tokens_ok = display
                .split(is_lws)
                .filter(|t| !t.is_empty())
                .all(|t| t.chars().all(is_token_char));
            if !tokens_ok {
                return Err(ParseError::Uri("bad display name"));
            }
            let inner = &s[lt + 1..];
            let end = inner.find('>').ok_or(bad.clone())?;
            let display = (!display.is_empty()).then(|| display.to_string());
            (display, &inner[..end], &inner[end + 1..])
        } else {
            // addr-spec: the URI ends at the first ';', and may not hold ',', '?' or ';'
            // (RFC 3261 §20: those force the name-addr form).
            let (uri, rest) = match s.find(';') {
                Some(i) => (s[..i].trim_end_matches(is_lws), &s[i..]),
                None => (s, ""),
            };
            if uri.contains(['?', ',']) {
                return Err(ParseError::Uri(
                    "addr-spec with '?' or ',' needs angle brackets",
                ));
            }
            (None, uri, rest)
        };
        let uri = Uri::parse(uri)?;
        let params = parse_header_params(rest)?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// The display name with quotes and escapes removed.
    pub fn display_text(&self) -> Option<String> {
        let d = self.display.as_deref()?;
        if d.starts_with('"') {
            unquote(d)
        } else {
            Some(d.to_string())
        }
    }
}

/// `*( SEMI generic-param )` after a name-addr, with LWS allowed around `;` and `=`.
pub(crate) fn parse_header_params(rest: &str) -> Result<Params, ParseError> {
    let rest = rest.trim_matches(is_lws);
    if rest.is_empty() {
        return Ok(Params::default());
    }
    let rest = rest
        .strip_prefix(';')
        .ok_or(ParseError::Uri("junk after address"))?;
    Params::parse_items(split_outside(rest, ';').into_iter(), is_gen_value_char)
        .ok_or(ParseError::Uri("bad parameter"))
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.display {
            Some(d) => write!(f, "{d} <{}>{}", self.uri, self.params),
            None => write!(f, "<{}>{}", self.uri, self.params),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.tag(), Some("98asjd8"));
        assert_eq!(n.display_text().unwrap(), "J Rosenberg \\\"");
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        let lws = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(lws.display.as_deref(), Some("caller"));
        let printed = n.to_string();
        assert_eq!(NameAddr::parse(&printed).unwrap(), n);
    }
}
