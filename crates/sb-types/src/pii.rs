//! Patients' numbers and names are personal data: a log line carries only enough to
//! correlate ([`Redacted`]), a screen or a report for someone not entitled to the number
//! only enough to recognise it ([`mask_number`]). Every crate takes these two from here.

use std::fmt;

/// Displays as the value's length and last two characters, e.g. `***(11)…78`: for logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T: AsRef<str>>(pub T);

impl<T: AsRef<str>> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_ref();
        let n = s.chars().count();
        let tail: String = s.chars().skip(n.saturating_sub(2)).collect();
        if n <= 4 {
            write!(f, "***({n})")
        } else {
            write!(f, "***({n})…{tail}")
        }
    }
}

impl<T: AsRef<str>> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `13812345678` -> `138****5678`: enough to recognise, not to dial (screens, reports).
/// At least four characters are always hidden, so a short number (a local number without
/// its area code) never shows whole.
pub fn mask_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    let len = chars.len();
    if len <= 4 {
        return "*".repeat(len);
    }
    let tail = (len - 4).min(4);
    let head = (len - 4 - tail).min(3);
    let shown_head: String = chars[..head].iter().collect();
    let shown_tail: String = chars[len - tail..].iter().collect();
    format!("{shown_head}{}{shown_tail}", "*".repeat(len - head - tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_hides_the_number() {
        let shown = format!("{} {:?}", Redacted("13812345678"), Redacted("120"));
        assert_eq!(shown, "***(11)…78 ***(3)");
        assert!(!shown.contains("1381234"));
    }

    #[test]
    fn masking_keeps_the_ends_of_long_numbers_only() {
        assert_eq!(mask_number("13812345678"), "138****5678");
        assert_eq!(mask_number("12345"), "****5");
        assert_eq!(mask_number("5550123"), "****123");
        assert_eq!(mask_number("1234"), "****");
        assert_eq!(mask_number(""), "");
        assert_eq!(mask_number("0105550123"), "01****0123");
        for n in [
            "12345",
            "5550123",
            "55501234",
            "0105550123",
            "8613812345678",
        ] {
            let stars = mask_number(n).chars().filter(|c| *c == '*').count();
            assert!(stars >= 4, "{n} shows too much");
        }
    }
}
