//! `--set KEY=VALUE`: overrides by dotted path, applied to the document text with the same
//! TOML parser, so values keep their place in the file and diagnostics keep their lines.

use crate::{Diagnostic, Source};
use toml_edit::{DocumentMut, Item, Table, Value};

fn bad(source: &Source, message: String) -> Vec<Diagnostic> {
    vec![Diagnostic {
        code: "SB002",
        file: format!("{} (--set)", source.name),
        line: 0,
        message,
    }]
}

pub fn apply(source: Source, sets: &[String]) -> Result<Source, Vec<Diagnostic>> {
    if sets.is_empty() {
        return Ok(source);
    }
    let mut doc: DocumentMut = source.text.parse().map_err(|e: toml_edit::TomlError| {
        let line = e.span().map(|s| source.line_of(s.start)).unwrap_or(0);
        vec![Diagnostic {
            code: "SB001",
            file: source.name.clone(),
            line,
            message: e.message().to_string(),
        }]
    })?;
    for set in sets {
        let Some((path, value)) = set.split_once('=') else {
            return Err(bad(&source, format!("`{set}` is not KEY=VALUE")));
        };
        let keys: Vec<&str> = path.trim().split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(bad(&source, format!("`{path}` is not a dotted key path")));
        }
        // A value that is valid TOML keeps its type (numbers, booleans); anything else is a
        // string, so `--set sip.listen=0.0.0.0:5060` needs no quoting.
        // A date-time stays text: the configuration spells instants as RFC 3339 strings.
        let value: Value = match value.trim().parse::<Value>() {
            Ok(v) if !v.is_datetime() => v,
            _ => Value::from(value.trim()),
        };
        let (last, parents) = keys
            .split_last()
            .expect("split on '.' yields at least one key");
        let mut table: &mut Table = doc.as_table_mut();
        for k in parents {
            let entry = table.entry(k).or_insert_with(|| Item::Table(Table::new()));
            table = match entry.as_table_mut() {
                Some(t) => t,
                None => return Err(bad(&source, format!("`{path}`: `{k}` is not a table"))),
            };
        }
        match table.get_mut(last) {
            Some(Item::Value(old)) => {
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            Some(_) => return Err(bad(&source, format!("`{path}` is a table, not a value"))),
            None => {
                table.insert(last, Item::Value(value));
            }
        }
    }
    Ok(Source {
        name: source.name,
        text: doc.to_string(),
    })
}
