//! What the dialplans run on: the flows and the prompts, loaded and checked together by
//! the configuration crate (`sb_config::assets`), and the prompts the engine itself plays.

use sb_ivr::Dialplans;
use sb_media::prompt::Prompt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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

/// The prompts the engine plays by itself while patients wait (hold music, the callback
/// offer and its confirmation, the place in the queue, the expected wait), the ringback the
/// phone placing a call hears and the satisfaction survey: every language needs them.
pub fn engine_prompts() -> Vec<String> {
    let mut needed: Vec<String> = [
        "hold-music",
        "ringback",
        "callback-offer",
        "callback-confirmed",
        "survey",
        "survey-thanks",
    ]
    .map(String::from)
    .to_vec();
    needed.extend((0..=10).map(crate::call::position_prompt));
    needed.extend((1..=11).map(|m| crate::call::wait_prompt(Duration::from_secs(m * 60))));
    needed
}
