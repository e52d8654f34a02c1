//! The IVR's assets: every dialplan flow and every prompt, loaded once at start (prompts
//! encoded once in both G.711 laws) and checked together, every problem reported at once.

use sb_config::{Diagnostic, Model, Source};
use sb_ivr::{Context, Dialplans};
use sb_media::prompt::Prompt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the assets come from: a folder on disk (the configuration file's), or the copies
/// built into the binary for the embedded default configuration.
#[derive(Debug, Clone, Copy)]
pub enum AssetSource<'a> {
    /// The configuration file's folder.
    Dir(&'a Path),
    /// (path relative to the repository root, contents).
    Embedded(&'a [(&'a str, &'a [u8])]),
}

/// What the dialplans run on: the flows and the prompts, checked together.
#[derive(Debug)]
pub struct Assets {
    /// Every dialplan flow, indexed by the numbers that reach them.
    pub plans: Arc<Dialplans>,
    /// (language, prompt name) -> prompt.
    pub prompts: HashMap<(String, String), Arc<Prompt>>,
}

impl Assets {
    /// The prompt `name` in `language`, if there is one.
    pub fn prompt(&self, language: &str, name: &str) -> Option<&Arc<Prompt>> {
        self.prompts.get(&(language.to_string(), name.to_string()))
    }
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
    let plans = match sb_ivr::load(&sources, &ctx) {
        Ok(p) => Some(p),
        Err(d) => {
            out.extend(d);
            None
        }
    };
    // Prompts the engine itself plays while patients wait.
    let mut needed: Vec<String> = ["hold-music", "callback-offer", "callback-confirmed"]
        .map(String::from)
        .to_vec();
    needed.extend((0..=10).map(crate::call::position_prompt));
    needed.extend((1..=11).map(|m| crate::call::wait_prompt(Duration::from_secs(m * 60))));
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

/// The ACD for the configured queues: every member logged in to their queues from the start,
/// so an agent is offered calls as soon as their phone registers (the demo needs no step).
/// The operator queue takes the other queues' overflow.
/// The ACD's settings from the configuration: the ring timer is the three-ring threshold.
pub fn acd_config(m: &Model) -> sb_acd::AcdConfig {
    let threshold = m.sla_threshold();
    sb_acd::AcdConfig {
        ring_timeout: threshold,
        sla_threshold: threshold,
        wrap_up: m.wrap_up,
        max_misses: m.pause_after_misses,
        ..sb_acd::AcdConfig::default()
    }
}

/// The ACD of `m`'s queues and agents, starting at `now`.
pub fn acd_from_model(m: &Model, now: std::time::Instant) -> sb_acd::Acd {
    use sb_acd::{Acd, AgentId, QueueSpec, Strategy};
    use sb_config::model::QueueStrategy;
    let cfg = acd_config(m);
    let has_operator = m.queues.iter().any(|q| q.name == "operator");
    let queues: Vec<QueueSpec> = m
        .queues
        .iter()
        .map(|q| QueueSpec {
            name: q.name.clone(),
            strategy: match q.strategy {
                QueueStrategy::LongestIdle => Strategy::LongestIdle,
                QueueStrategy::RoundRobin => Strategy::RoundRobin,
                QueueStrategy::RingAll => Strategy::RingAll,
                QueueStrategy::FewestCalls => Strategy::FewestCalls,
                QueueStrategy::Skills { widen } => Strategy::Skills { widen_every: widen },
            },
            members: q
                .levels
                .iter()
                .map(|(a, level)| (AgentId(a.clone()), *level))
                .collect(),
            // To the operators unless the queue offers callbacks; the operators' own
            // overflow always offers one.
            overflow_to: (has_operator && q.name != "operator" && !q.overflow_to_callback)
                .then(|| "operator".to_string()),
            limits: (q.max_waiting.is_some() || q.max_wait.is_some()).then(|| {
                (
                    q.max_waiting.unwrap_or(cfg.max_waiting),
                    q.max_wait.unwrap_or(cfg.max_wait),
                )
            }),
        })
        .collect();
    let mut acd = Acd::new(cfg, queues, now);
    for q in &m.queues {
        for a in &q.agents {
            acd.handle_login(now, &AgentId(a.clone()), &[q.name.as_str()]);
        }
    }
    while acd.poll_event().is_some() {}
    acd
}
