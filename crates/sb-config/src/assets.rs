//! The IVR's assets: every dialplan flow and every prompt, loaded once at start (prompts
//! encoded once in both G.711 laws) and checked together, every problem reported at once.

use crate::dialplan::Context;
use crate::{Diagnostic, Model, Source};
use sb_engine::Assets;
use sb_media::prompt::Prompt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the assets come from: a folder on disk (the configuration file's), or the copies
/// built into the binary for the embedded default configuration.
#[derive(Debug, Clone, Copy)]
pub enum AssetSource<'a> {
    /// The configuration file's folder.
    Dir(&'a Path),
    /// (path relative to the repository root, contents).
    Embedded(&'a [(&'a str, &'a [u8])]),
}

fn diag(code: &'static str, file: String, message: String) -> Diagnostic {
    Diagnostic {
        code,
        file,
        line: 0,
        message,
    }
}

/// Files under `dir` (relative to the source) ending in `ext`, as (display path, bytes).
fn files(
    src: AssetSource<'_>,
    dir: &Path,
    ext: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, Vec<u8>)>> {
    match src {
        AssetSource::Dir(base) => {
            let d = base.join(dir);
            let entries = match std::fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) => {
                    out.push(diag(
                        "AS001",
                        d.display().to_string(),
                        format!("cannot read the folder: {e}"),
                    ));
                    return None;
                }
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect();
            paths.sort();
            let mut v = Vec::new();
            for p in paths {
                match std::fs::read(&p) {
                    Ok(b) => v.push((p.display().to_string(), b)),
                    Err(e) => out.push(diag(
                        "AS001",
                        p.display().to_string(),
                        format!("cannot read: {e}"),
                    )),
                }
            }
            Some(v)
        }
        AssetSource::Embedded(list) => {
            // The embedded copies are the repository's `dialplans/` and `prompts/`, whatever
            // relative path the (embedded) configuration uses to reach them.
            let rel: PathBuf = dir
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .collect();
            let prefix = format!("{}/", rel.display());
            let v: Vec<(String, Vec<u8>)> = list
                .iter()
                .filter(|(p, _)| {
                    p.starts_with(&prefix)
                        && !p[prefix.len()..].contains('/')
                        && p.ends_with(&format!(".{ext}"))
                })
                .map(|(p, b)| (format!("{p} (embedded)"), b.to_vec()))
                .collect();
            if v.is_empty() {
                out.push(diag(
                    "AS001",
                    format!("{} (embedded)", dir.display()),
                    "no files built into the binary".into(),
                ));
                return None;
            }
            Some(v)
        }
    }
}

fn stem(path: &str) -> String {
    let p = path.trim_end_matches(" (embedded)");
    Path::new(p)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Loads and checks the dialplans and prompts `m` refers to, from `src`: every problem at
/// once (a missing prompt, a prompt in another format, a dialplan that does not hold).
pub fn load_assets(m: &Model, src: AssetSource<'_>) -> Result<Assets, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut prompts = HashMap::new();
    for lang in &m.languages {
        let dir = m.prompts_dir.join(lang);
        for (path, bytes) in files(src, &dir, "wav", &mut out).unwrap_or_default() {
            match Prompt::read(&path, &bytes[..]) {
                Ok(p) => {
                    prompts.insert((lang.clone(), stem(&path)), Arc::new(p));
                }
                Err(e) => out.push(diag(
                    "AS002",
                    path.clone(),
                    e.to_string()
                        .trim_start_matches(&format!("{path}: "))
                        .to_string(),
                )),
            }
        }
    }
    let sources: Vec<Source> = files(src, &m.dialplans_dir, "toml", &mut out)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, bytes)| Source {
            name,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
        .collect();
    let queues: Vec<String> = m.queues.iter().map(|q| q.name.clone()).collect();
    let exts = m.transfer_targets();
    let exists =
        |lang: &str, name: &str| prompts.contains_key(&(lang.to_string(), name.to_string()));
    let ctx = Context {
        queues: &queues,
        extensions: &exts,
        languages: &m.languages,
        prompt_exists: &exists,
    };
    let plans = match crate::dialplan::load(&sources, &ctx) {
        Ok(p) => Some(p),
        Err(d) => {
            out.extend(d);
            None
        }
    };
    // Prompts the engine itself plays while patients wait.
    let needed = sb_engine::engine_prompts();
    for lang in &m.languages {
        for name in &needed {
            if !prompts.contains_key(&(lang.clone(), name.clone())) {
                let file = m
                    .prompts_dir
                    .join(lang)
                    .join(format!("{name}.wav"))
                    .display()
                    .to_string();
                out.push(diag(
                    "AS004",
                    file,
                    format!(
                        "the engine needs prompt `{name}` in {lang} (played while patients wait)"
                    ),
                ));
            }
        }
    }
    if let (Some(p), false) = (&plans, sources.is_empty()) {
        if p.entry(&m.hospital_number).is_none() {
            out.push(diag(
                "AS003",
                m.dialplans_dir.display().to_string(),
                format!("no flow answers the hospital number {}", m.hospital_number),
            ));
        }
    }
    match (plans, out.is_empty()) {
        (Some(plans), true) => Ok(Assets {
            plans: Arc::new(plans),
            prompts,
        }),
        _ => Err(out),
    }
}
