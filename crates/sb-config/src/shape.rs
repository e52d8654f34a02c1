//! Reading a TOML text's shape with every problem reported at once.
//!
//! serde stops at the first unknown key or wrong type. Here each such key is taken out of
//! the document and the rest read again, until it reads cleanly, so a file with three
//! misspelled keys gets three diagnostics, each at its line and with a "did you mean"
//! where a known key is close. Used for the configuration and for the dialplans.

use serde::de::DeserializeOwned;
use std::ops::Range;
use toml_edit::{DocumentMut, ImDocument, Item, Value};

/// One problem with the shape of a document: where it is in the text as given, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    pub span: Range<usize>,
    pub message: String,
}

/// A step on the way from the document's root to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// More rounds than any real file has mistakes; a bound so a pathological input ends.
const MAX_ROUNDS: usize = 200;

/// Deserializes `text`, reporting every unknown key and every value of the wrong type.
/// The value is returned when what is left after taking the bad keys out reads, so the
/// caller can go on to check meaning and report that too.
pub fn from_str_all<T: DeserializeOwned>(text: &str) -> (Option<T>, Vec<ShapeError>) {
    let original = match ImDocument::parse(text) {
        Ok(d) => d,
        Err(e) => {
            return (
                None,
                vec![ShapeError {
                    span: e.span().unwrap_or(0..0),
                    message: e.message().trim().to_string(),
                }],
            )
        }
    };
    let mut errors = Vec::new();
    let mut current = text.to_string();
    // Keys read under the name they were probably meant to have; a later complaint about
    // one of them (its value's type) is about the same mistake.
    let mut renamed: Vec<Vec<Step>> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let e = match toml::from_str::<T>(&current) {
            Ok(v) => return (Some(v), errors),
            Err(e) => e,
        };
        let message = e.message().trim().to_string();
        let at = e.span().unwrap_or(0..0);
        let path = ImDocument::parse(current.as_str())
            .ok()
            .and_then(|d| path_at(d.as_item(), at.start, &mut Vec::new()));
        // A missing key after others were taken out may be one of them: it was reported.
        let consequence = message.starts_with("missing field") && !errors.is_empty();
        let span = match &path {
            Some(p) => span_of(original.as_item(), p).unwrap_or(0..0),
            None if errors.is_empty() => at,
            None => 0..0,
        };
        let repeat = path.as_ref().is_some_and(|p| renamed.contains(p));
        let guess = suggestion(&message);
        if !consequence && !repeat {
            errors.push(ShapeError {
                span,
                message: match &guess {
                    Some((unknown, known)) => {
                        format!("unknown key `{unknown}`: did you mean `{known}`? ({message})")
                    }
                    None => message,
                },
            });
        }
        let Some(path) = path.filter(|_| !consequence) else {
            return (None, errors);
        };
        // A slip of the keyboard is read as the key it was meant to be (a required key
        // spelt wrong must not hide the rest of the file); anything else is taken out.
        let next = match guess.filter(|_| !repeat) {
            Some((_, known)) => renamed_to(&current, &path, &known).inspect(|_| {
                let mut p = path.clone();
                p.pop();
                p.push(Step::Key(known.clone()));
                renamed.push(p);
            }),
            None => None,
        };
        match next.or_else(|| without(&current, &path)) {
            Some(next) => current = next,
            None => return (None, errors),
        }
    }
    (None, errors)
}

/// The deepest key whose name or value covers byte `at`.
fn path_at(item: &Item, at: usize, prefix: &mut Vec<Step>) -> Option<Vec<Step>> {
    // Each child: its step, the child itself, and where its key is named (if it has one).
    let children: Vec<(Step, Item, Option<Range<usize>>)> = match item {
        Item::Table(t) => t
            .iter()
            .map(|(k, v)| {
                (
                    Step::Key(k.to_string()),
                    v.clone(),
                    t.key(k).and_then(|k| k.span()),
                )
            })
            .collect(),
        Item::ArrayOfTables(a) => a
            .iter()
            .enumerate()
            .map(|(i, t)| (Step::Index(i), Item::Table(t.clone()), None))
            .collect(),
        Item::Value(Value::InlineTable(t)) => t
            .iter()
            .map(|(k, v)| {
                let named = t.key(k).and_then(|k| k.span());
                (Step::Key(k.to_string()), Item::Value(v.clone()), named)
            })
            .collect(),
        Item::Value(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (Step::Index(i), Item::Value(v.clone()), None))
            .collect(),
        _ => Vec::new(),
    };
    let covers = |s: Option<Range<usize>>| s.is_some_and(|s| s.contains(&at));
    for (step, child, named) in children {
        let whole_tables = matches!(item, Item::ArrayOfTables(_));
        prefix.push(step);
        let found = path_at(&child, at, prefix).or_else(|| {
            (!whole_tables && (covers(named) || covers(child.span()))).then(|| prefix.clone())
        });
        prefix.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Where the key at `path` is named in the document (its key, else its value).
fn span_of(item: &Item, path: &[Step]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    match (item, first) {
        (Item::Table(t), Step::Key(k)) => {
            let v = t.get(k)?;
            if rest.is_empty() {
                return t.key(k).and_then(|k| k.span()).or_else(|| v.span());
            }
            span_of(v, rest)
        }
        (Item::ArrayOfTables(a), Step::Index(i)) => span_of(&Item::Table(a.get(*i)?.clone()), rest),
        (Item::Value(Value::InlineTable(t)), Step::Key(k)) => {
            let v = t.get(k)?;
            if rest.is_empty() {
                return t.key(k).and_then(|k| k.span()).or_else(|| v.span());
            }
            span_of(&Item::Value(v.clone()), rest)
        }
        (Item::Value(Value::Array(a)), Step::Index(i)) => {
            let v = a.get(*i)?;
            if rest.is_empty() {
                return v.span();
            }
            span_of(&Item::Value(v.clone()), rest)
        }
        _ => None,
    }
}

/// The document without the key at `path`, as text; `None` when it cannot be taken out
/// (an element of an array: taking it would renumber the rest).
fn without(text: &str, path: &[Step]) -> Option<String> {
    let mut doc: DocumentMut = text.parse().ok()?;
    remove_in_table(doc.as_table_mut(), path).then(|| doc.to_string())
}

/// The document with the key at `path` renamed to `to`, when its table has no `to` yet.
fn renamed_to(text: &str, path: &[Step], to: &str) -> Option<String> {
    let mut doc: DocumentMut = text.parse().ok()?;
    edit_in_table(doc.as_table_mut(), path, &Edit::Rename(to)).then(|| doc.to_string())
}

/// What to do to the key at the end of a path.
enum Edit<'a> {
    Remove,
    Rename(&'a str),
}

fn remove_in_table(t: &mut toml_edit::Table, path: &[Step]) -> bool {
    edit_in_table(t, path, &Edit::Remove)
}

fn edit_in_table(t: &mut toml_edit::Table, path: &[Step], edit: &Edit<'_>) -> bool {
    match path {
        [Step::Key(k)] => match edit {
            Edit::Remove => t.remove(k).is_some(),
            Edit::Rename(to) if !t.contains_key(to) => match t.remove(k) {
                Some(item) => t.insert(to, item).is_none(),
                None => false,
            },
            Edit::Rename(_) => false,
        },
        [Step::Key(k), rest @ ..] => match t.get_mut(k) {
            Some(Item::Table(inner)) => edit_in_table(inner, rest, edit),
            Some(Item::ArrayOfTables(a)) => match rest {
                [Step::Index(i), rest @ ..] if !rest.is_empty() => a
                    .get_mut(*i)
                    .is_some_and(|inner| edit_in_table(inner, rest, edit)),
                _ => false,
            },
            Some(Item::Value(v)) => edit_in_value(v, rest, edit),
            _ => false,
        },
        _ => false,
    }
}

fn edit_in_value(v: &mut Value, path: &[Step], edit: &Edit<'_>) -> bool {
    let Value::InlineTable(t) = v else {
        return false;
    };
    match path {
        [Step::Key(k)] => match edit {
            Edit::Remove => t.remove(k).is_some(),
            Edit::Rename(to) if !t.contains_key(to) => match t.remove(k) {
                Some(value) => t.insert(*to, value).is_none(),
                None => false,
            },
            Edit::Rename(_) => false,
        },
        [Step::Key(k), rest @ ..] => t
            .get_mut(k)
            .is_some_and(|inner| edit_in_value(inner, rest, edit)),
        _ => false,
    }
}

/// From serde's "unknown field `x`, expected one of `a`, `b`": `x` and the closest known
/// key, when it is close enough to be a slip of the keyboard.
fn suggestion(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (distance(unknown, k), k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .map(|(_, k)| (unknown.to_string(), k.to_string()))
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        sip: Sip,
        #[serde(default)]
        queues: Vec<Queue>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sip {
        listen: String,
        #[serde(default)]
        realm: Option<String>,
        #[serde(default)]
        t1_ms: Option<u64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Queue {
        name: String,
        #[serde(default)]
        levels: Option<std::collections::HashMap<String, u8>>,
    }

    fn line(text: &str, span: &Range<usize>) -> usize {
        text[..span.start].matches('\n').count() + 1
    }

    #[test]
    fn three_misspelled_keys_give_three_errors_at_their_lines() {
        let text = "[sip]\nlisten = \"x\"\nrelam = \"r\"\nt1ms = 5\n\n[[queues]]\nname = \"a\"\n\n[[queues]]\nnmae = \"b\"\nname = \"b\"\n";
        let (v, errs) = from_str_all::<Doc>(text);
        assert!(v.is_some(), "what is left reads");
        let lines: Vec<usize> = errs.iter().map(|e| line(text, &e.span)).collect();
        assert_eq!(lines, [3, 4, 10], "{errs:?}");
        assert!(
            errs[0].message.contains("did you mean `realm`"),
            "{}",
            errs[0].message
        );
        assert!(errs[1].message.contains("did you mean `t1_ms`"));
        assert!(errs[2].message.contains("did you mean `name`"));
    }

    #[test]
    fn wrong_types_and_far_off_keys_are_reported_without_a_guess() {
        let text = "[sip]\nlisten = 5\nzzzzzzzz = 1\n";
        let (v, errs) = from_str_all::<Doc>(text);
        // `listen` is required: once it is taken out the rest cannot be read, and its
        // absence is not reported again.
        assert!(v.is_none());
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(line(text, &errs[0].span), 2);
        assert_eq!(line(text, &errs[1].span), 3);
        let text = "[sip]\nlisten = \"x\"\nzzzzzzzz = 1\n[[queues]]\nname = \"q\"\nlevels = { \"1003\" = \"high\" }\n";
        let (_, errs) = from_str_all::<Doc>(text);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(!errs[0].message.contains("did you mean"));
        assert_eq!(line(text, &errs[1].span), 6);
    }

    #[test]
    fn a_syntax_error_is_one_error() {
        let (v, errs) = from_str_all::<Doc>("[sip\nlisten = 1\n");
        assert!(v.is_none());
        assert_eq!(errs.len(), 1);
    }
}
