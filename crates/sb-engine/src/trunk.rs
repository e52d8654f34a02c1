//! Trunk calls, the engine's side: how numbers are written on each carrier and normalised
//! for the records, which hospital number (DID) a carrier's call is for, and the outbound
//! dial plan that says who may dial which numbers out and on which trunks. The SIP side of
//! a trunk (trust by address, registration, health) is `sb_sip::trunk`.

use sb_sip::Credentials;
use sb_sip_msg::{NameAddr, Request, Uri};

/// How a carrier writes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFormat {
    /// E.164 with the country code, with or without a leading `+` (`+862012345678`).
    E164,
    /// As dialled in the country: the trunk prefix for other areas (`02012345678`), the
    /// international prefix abroad (`00852...`), mobile numbers bare (`13912345678`).
    National,
}

/// The country's numbering: one normalised form (as dialled nationally) for records,
/// regions and blocklists, whatever form each carrier uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbering {
    /// The country code (`86`).
    pub country_code: String,
    /// The national trunk prefix (`0`).
    pub trunk_prefix: String,
    /// The international prefix (`00`).
    pub international_prefix: String,
    /// National numbers that take no trunk prefix (China's mobiles begin with `1`).
    pub no_trunk_prefix: Vec<String>,
}

impl Default for Numbering {
    fn default() -> Numbering {
        Numbering {
            country_code: "86".into(),
            trunk_prefix: "0".into(),
            international_prefix: "00".into(),
            no_trunk_prefix: vec!["1".into()],
        }
    }
}

impl Numbering {
    /// A number as the carrier sent it (a URI user part), in the normalised form; `None`
    /// when it is not a number (`anonymous`, empty).
    pub fn normalise(&self, raw: &str, format: NumberFormat) -> Option<String> {
        let plus = raw.trim().starts_with('+');
        // Visual separators (RFC 3966 §5.1.1) are not part of the number.
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' ' | '+'))
            .collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if plus || format == NumberFormat::E164 {
            return Some(self.national_of_e164(&digits));
        }
        Some(digits)
    }

    /// E.164 digits (country code first) in the normalised form.
    fn national_of_e164(&self, digits: &str) -> String {
        match digits.strip_prefix(self.country_code.as_str()) {
            Some(national) if self.no_trunk_prefix.iter().any(|p| national.starts_with(p)) => {
                national.to_string()
            }
            Some(national) => format!("{}{national}", self.trunk_prefix),
            None => format!("{}{digits}", self.international_prefix),
        }
    }

    /// A normalised number as the carrier wants it.
    pub fn for_carrier(&self, number: &str, format: NumberFormat) -> String {
        match format {
            NumberFormat::National => number.to_string(),
            NumberFormat::E164 => {
                if let Some(abroad) = number.strip_prefix(self.international_prefix.as_str()) {
                    format!("+{abroad}")
                } else if let Some(rest) = number
                    .strip_prefix(self.trunk_prefix.as_str())
                    .filter(|_| !self.trunk_prefix.is_empty())
                {
                    format!("+{}{rest}", self.country_code)
                } else {
                    format!("+{}{number}", self.country_code)
                }
            }
        }
    }
}

/// Who the switchboard presents as when it calls out on a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// The hospital's number, normalised (written in the carrier's format when sent).
    pub number: String,
    /// The display name.
    pub name: Option<String>,
    /// Also assert it in P-Asserted-Identity (RFC 3325), for carriers that want it.
    pub asserted: bool,
    /// Ask the network to withhold it from the called party (`Privacy: id`).
    pub withheld: bool,
}

/// One trunk as the engine uses it (index-aligned with the endpoint's trunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkPlan {
    /// The trunk's name.
    pub name: String,
    /// How the carrier writes numbers.
    pub format: NumberFormat,
    /// The hospital numbers on this trunk, normalised, each with the internal number whose
    /// dialplan answers it (so an advertising number keeps its media source).
    pub dids: Vec<(String, String)>,
    /// Who we present as on calls out.
    pub caller_id: CallerId,
    /// Calls at once on the trunk, both ways (0: no limit).
    pub max_calls: u32,
    /// Lower goes first when a route names no order.
    pub priority: u32,
    /// Credentials for the carrier's challenges to our INVITEs.
    pub credentials: Option<Credentials>,
}

impl TrunkPlan {
    /// The internal number a DID stands for.
    pub fn did(&self, number: &str) -> Option<&str> {
        self.dids
            .iter()
            .find(|(d, _)| d == number)
            .map(|(_, internal)| internal.as_str())
    }
}

/// A dial pattern, as switchboards write them: digits stand for themselves, `X` is any
/// digit, `Z` 1-9, `N` 2-9, `[1-5]` or `[135]` one of a set, and a trailing `.` one or more
/// further characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// The pattern `text`, or what is wrong with it.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let mut chars = text.chars().peekable();
        if text.is_empty() {
            return Err("a pattern is empty".into());
        }
        while let Some(c) = chars.next() {
            match c {
                '0'..='9' | 'X' | 'Z' | 'N' | '*' | '#' | '+' => {}
                '.' if chars.peek().is_none() => {}
                '.' => return Err(format!("`{text}`: `.` may only end a pattern")),
                '[' => {
                    let set: String = chars.by_ref().take_while(|c| *c != ']').collect();
                    if set.is_empty() || !set.chars().all(|c| c.is_ascii_digit() || c == '-') {
                        return Err(format!("`{text}`: `[...]` holds digits and ranges"));
                    }
                }
                other => {
                    return Err(format!(
                        "`{text}`: `{other}` is not a digit, X, Z, N, [set] or a final ."
                    ))
                }
            }
        }
        Ok(Pattern(text.to_string()))
    }

    /// Whether `number` matches.
    pub fn matches(&self, number: &str) -> bool {
        let mut n = number.chars();
        let mut p = self.0.chars().peekable();
        while let Some(pc) = p.next() {
            if pc == '.' {
                return n.next().is_some();
            }
            let Some(c) = n.next() else {
                return false;
            };
            let ok = match pc {
                'X' => c.is_ascii_digit(),
                'Z' => matches!(c, '1'..='9'),
                'N' => matches!(c, '2'..='9'),
                '[' => {
                    let set: Vec<char> = p.by_ref().take_while(|c| *c != ']').collect();
                    in_set(&set, c)
                }
                lit => lit == c,
            };
            if !ok {
                return false;
            }
        }
        n.next().is_none()
    }
}

fn in_set(set: &[char], c: char) -> bool {
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == '-' {
            if (set[i]..=set[i + 2]).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if set[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// One rule of the outbound dial plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRule {
    /// The rule's name (records, security events).
    pub name: String,
    /// The dialled strings it covers.
    pub patterns: Vec<Pattern>,
    /// Extension kinds allowed to dial them (`agent`, `operator`, `department`).
    pub roles: Vec<String>,
    /// Extensions allowed beside the kinds.
    pub extensions: Vec<String>,
    /// Whether calls the engine places itself (callbacks, follow-ups) may use it.
    pub engine: bool,
    /// Leading characters taken off (an outside-line prefix).
    pub strip: usize,
    /// Put in front after that (an area code), giving the normalised number.
    pub prepend: String,
    /// The trunks to try, in order (empty: every trunk, by priority).
    pub trunks: Vec<String>,
}

/// Who is dialling out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialler<'a> {
    /// An authenticated extension, with its kind.
    Extension {
        /// The extension.
        number: &'a str,
        /// Its kind.
        role: &'a str,
    },
    /// The engine itself, for a feature that calls out.
    Engine,
}

/// What the dial plan says of a dialled string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// No rule covers it: not an outside number.
    NoRule,
    /// A rule covers it but this dialler may not use it.
    Refused {
        /// The rule.
        rule: String,
    },
    /// Dial `number` (normalised) on these trunks, in order.
    Out {
        /// The rule.
        rule: String,
        /// The number to call, normalised.
        number: String,
        /// Indices into the trunks, in the order to try them.
        trunks: Vec<usize>,
    },
}

/// Looks `dialled` up in the dial plan for `who`.
pub fn route(
    rules: &[OutboundRule],
    trunks: &[TrunkPlan],
    who: Dialler<'_>,
    dialled: &str,
) -> Route {
    let Some(rule) = rules
        .iter()
        .find(|r| r.patterns.iter().any(|p| p.matches(dialled)))
    else {
        return Route::NoRule;
    };
    let allowed = match who {
        Dialler::Engine => rule.engine,
        Dialler::Extension { number, role } => {
            rule.roles.iter().any(|r| r == role) || rule.extensions.iter().any(|e| e == number)
        }
    };
    if !allowed {
        return Route::Refused {
            rule: rule.name.clone(),
        };
    }
    let kept = dialled.get(rule.strip..).unwrap_or_default();
    let number = format!("{}{kept}", rule.prepend);
    let order = if rule.trunks.is_empty() {
        let mut all: Vec<usize> = (0..trunks.len()).collect();
        all.sort_by_key(|i| trunks[*i].priority);
        all
    } else {
        rule.trunks
            .iter()
            .filter_map(|n| trunks.iter().position(|t| &t.name == n))
            .collect()
    };
    Route::Out {
        rule: rule.name.clone(),
        number,
        trunks: order,
    }
}

/// What a carrier's INVITE says of the hospital number called and of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The hospital number called, normalised (`None`: not a number).
    pub did: Option<String>,
    /// The caller's number, normalised; `None` when withheld or not a number.
    pub caller: Option<String>,
    /// The caller withheld their number (anonymous, or `Privacy: id`).
    pub withheld: bool,
}

/// The user part of a SIP or tel URI.
fn uri_user(uri: &Uri) -> Option<String> {
    if let Some(sip) = uri.as_sip() {
        return sip.user_unescaped();
    }
    let text = uri.to_string();
    let rest = text.strip_prefix("tel:")?;
    Some(rest.split(';').next().unwrap_or_default().to_string())
}

/// Reads a carrier's INVITE on a trunk with `plan`, whose calls come to our Contact user
/// `contact_user`: the DID is the Request-URI's user, or the To user when the carrier
/// addressed our registered contact; the caller is P-Asserted-Identity's, else From's.
pub fn read_inbound(
    req: &Request,
    plan: &TrunkPlan,
    numbering: &Numbering,
    contact_user: Option<&str>,
) -> Inbound {
    let ruri = uri_user(&req.uri).unwrap_or_default();
    let raw_did = if ruri.is_empty() || Some(ruri.as_str()) == contact_user {
        uri_user(&req.core.to.uri).unwrap_or_default()
    } else {
        ruri
    };
    let did = numbering.normalise(&raw_did, plan.format);
    let privacy = req.headers.list("Privacy").any(|p| {
        matches!(
            p.trim().to_ascii_lowercase().as_str(),
            "id" | "user" | "header"
        )
    });
    let asserted = req
        .headers
        .list("P-Asserted-Identity")
        .filter_map(|v| NameAddr::parse(v).ok())
        .find_map(|n| uri_user(&n.uri));
    let from = uri_user(&req.core.from.uri);
    let caller = asserted
        .or(from)
        .and_then(|u| numbering.normalise(&u, plan.format));
    let withheld = privacy || caller.is_none();
    Inbound {
        did,
        caller: caller.filter(|_| !withheld),
        withheld,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_either_format_meet_in_one_form() {
        let n = Numbering::default();
        use NumberFormat::*;
        assert_eq!(
            n.normalise("+862012345678", E164).as_deref(),
            Some("02012345678")
        );
        assert_eq!(
            n.normalise("862012345678", E164).as_deref(),
            Some("02012345678")
        );
        assert_eq!(
            n.normalise("02012345678", National).as_deref(),
            Some("02012345678")
        );
        assert_eq!(
            n.normalise("+8613912345678", E164).as_deref(),
            Some("13912345678")
        );
        assert_eq!(
            n.normalise("13912345678", National).as_deref(),
            Some("13912345678")
        );
        assert_eq!(
            n.normalise("+85221234567", National).as_deref(),
            Some("0085221234567")
        );
        assert_eq!(
            n.normalise("+86-20-1234-5678", E164).as_deref(),
            Some("02012345678")
        );
        assert_eq!(n.normalise("anonymous", E164), None);
        assert_eq!(n.normalise("", National), None);
    }

    #[test]
    fn normalised_numbers_go_out_in_the_carriers_form() {
        let n = Numbering::default();
        use NumberFormat::*;
        assert_eq!(n.for_carrier("02012345678", E164), "+862012345678");
        assert_eq!(n.for_carrier("13912345678", E164), "+8613912345678");
        assert_eq!(n.for_carrier("0085221234567", E164), "+85221234567");
        assert_eq!(n.for_carrier("02012345678", National), "02012345678");
        for s in ["02012345678", "13912345678", "0085221234567"] {
            assert_eq!(
                n.normalise(&n.for_carrier(s, E164), E164).as_deref(),
                Some(s)
            );
        }
    }

    #[test]
    fn a_carriers_invite_names_the_did_and_the_caller() {
        let n = Numbering::default();
        let plan = trunk("a", 1);
        let invite = |ruri: &str, to: &str, from: &str, extra: &str| {
            let text = format!(
                "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
                 From: <{from}>;tag=1\r\nTo: <{to}>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
                 Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
            );
            match sb_sip_msg::parse_datagram(text.as_bytes()) {
                Ok(Some(sb_sip_msg::Message::Request(r))) => r,
                other => panic!("{other:?}"),
            }
        };
        let r = invite(
            "sip:+862088880000@192.0.2.9",
            "sip:+862088880000@carrier",
            "sip:+8613912345678@carrier",
            "",
        );
        let got = read_inbound(&r, &plan, &n, Some("hospital"));
        assert_eq!(got.did.as_deref(), Some("02088880000"));
        assert_eq!(got.caller.as_deref(), Some("13912345678"));
        assert!(!got.withheld);
        // Sent to our registered contact: the DID is in To; PAI beats From.
        let r = invite(
            "sip:hospital@192.0.2.9",
            "sip:+862088880001@carrier",
            "sip:somebody@carrier",
            "P-Asserted-Identity: <tel:+862012345678>\r\n",
        );
        let got = read_inbound(&r, &plan, &n, Some("hospital"));
        assert_eq!(got.did.as_deref(), Some("02088880001"));
        assert_eq!(got.caller.as_deref(), Some("02012345678"));
        // Withheld: anonymous, or Privacy: id even with an asserted number.
        let r = invite(
            "sip:+862088880000@192.0.2.9",
            "sip:+862088880000@carrier",
            "sip:anonymous@anonymous.invalid",
            "",
        );
        let got = read_inbound(&r, &plan, &n, None);
        assert!(got.withheld && got.caller.is_none());
        let r = invite(
            "sip:+862088880000@192.0.2.9",
            "sip:+862088880000@carrier",
            "sip:anonymous@anonymous.invalid",
            "P-Asserted-Identity: <sip:+8613912345678@carrier>\r\nPrivacy: id\r\n",
        );
        let got = read_inbound(&r, &plan, &n, None);
        assert!(got.withheld && got.caller.is_none());
    }

    #[test]
    fn patterns_match_like_a_switchboards() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        assert!(p("9NXXXXXXX").matches("922345678"));
        assert!(!p("9NXXXXXXX").matches("912345678"));
        assert!(!p("9NXXXXXXX").matches("92234567"));
        assert!(p("91[3-9]XXXXXXXXX").matches("913912345678"));
        assert!(!p("91[3-9]XXXXXXXXX").matches("912912345678"));
        assert!(p("900.").matches("900852123"));
        assert!(!p("900.").matches("900"));
        assert!(p("9[135]").matches("93") && !p("9[135]").matches("92"));
        assert!(Pattern::parse("9.X").is_err());
        assert!(Pattern::parse("9a").is_err());
        assert!(Pattern::parse("9[a]").is_err());
    }

    fn trunk(name: &str, priority: u32) -> TrunkPlan {
        TrunkPlan {
            name: name.into(),
            format: NumberFormat::E164,
            dids: vec![],
            caller_id: CallerId {
                number: "02088880000".into(),
                name: None,
                asserted: false,
                withheld: false,
            },
            max_calls: 0,
            priority,
            credentials: None,
        }
    }

    #[test]
    fn the_dial_plan_says_who_may_dial_what_and_where_it_goes() {
        let rules = vec![
            OutboundRule {
                name: "local".into(),
                patterns: vec![Pattern::parse("9NXXXXXXX").unwrap()],
                roles: vec!["operator".into(), "agent".into()],
                extensions: vec![],
                engine: true,
                strip: 1,
                prepend: "020".into(),
                trunks: vec![],
            },
            OutboundRule {
                name: "international".into(),
                patterns: vec![Pattern::parse("900.").unwrap()],
                roles: vec![],
                extensions: vec!["1100".into()],
                engine: false,
                strip: 1,
                prepend: String::new(),
                trunks: vec!["b".into()],
            },
        ];
        let trunks = vec![trunk("a", 2), trunk("b", 1)];
        let op = Dialler::Extension {
            number: "1100",
            role: "operator",
        };
        let dept = Dialler::Extension {
            number: "2001",
            role: "department",
        };
        assert_eq!(
            route(&rules, &trunks, op, "922345678"),
            Route::Out {
                rule: "local".into(),
                number: "02022345678".into(),
                trunks: vec![1, 0]
            }
        );
        assert_eq!(
            route(&rules, &trunks, dept, "922345678"),
            Route::Refused {
                rule: "local".into()
            }
        );
        assert_eq!(
            route(&rules, &trunks, Dialler::Engine, "900852123"),
            Route::Refused {
                rule: "international".into()
            }
        );
        assert!(matches!(
            route(&rules, &trunks, op, "900852123"),
            Route::Out { trunks, .. } if trunks == vec![1]
        ));
        assert_eq!(route(&rules, &trunks, op, "2001"), Route::NoRule);
    }
}
