//! Personal data in logs (DESIGN.md house rule 8): patients' numbers and URIs are wrapped so
//! that formatting them for a log shows only enough to correlate, never the number.

use std::fmt;

/// Displays as the value's length and last two characters, e.g. `***(11)…78`.
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

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn hides_the_number() {
        let shown = format!("{} {:?}", Redacted("13812345678"), Redacted("120"));
        assert_eq!(shown, "***(11)…78 ***(3)");
        assert!(!shown.contains("1381234"));
    }
}
