//! The committed prompts: every one is 8 kHz mono 16-bit PCM, and none of them makes the
//! in-band DTMF detector fire (talk-off), though they say "press 1", "press 2"...

use sb_media::goertzel::ToneDetector;
use sb_media::prompt::Prompt;
use std::path::PathBuf;

#[test]
fn every_prompt_loads_and_causes_no_talk_off() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    let mut n = 0;
    for lang in ["zh-CN", "yue", "en"] {
        for e in std::fs::read_dir(root.join(lang)).expect("language dir") {
            let p = e.expect("entry").path();
            let prompt = Prompt::load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(prompt.duration_ms() > 300, "{}: too short", p.display());
            let mut d = ToneDetector::default();
            let mut digits = Vec::new();
            for chunk in prompt.pcm.chunks(160) {
                d.push(chunk, &mut digits);
            }
            assert!(digits.is_empty(), "{}: talk-off {digits:?}", p.display());
            n += 1;
        }
    }
    assert_eq!(n, 123);
}
