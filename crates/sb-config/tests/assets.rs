use sb_config::assets::{load_assets, AssetSource};
use sb_config::{load, Source};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> sb_config::Model {
    let text = std::fs::read_to_string(root().join("config/switchboard.toml")).expect("config");
    load(
        Source {
            name: "switchboard.toml".into(),
            text,
        },
        &[],
    )
    .expect("valid")
}

#[test]
fn the_shipped_assets_load() {
    let a = load_assets(&model(), AssetSource::Dir(&root().join("config")))
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(a.prompts.len(), 123);
    assert!(a.prompt("yue", "greeting").is_some());
    assert!(a.plans.entry("8000").is_some());
}

#[test]
fn a_bad_prompt_and_a_missing_one_are_both_reported() {
    let dir = std::env::temp_dir().join(format!("sb-assets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The shipped configuration reaches its assets as ../dialplans and ../prompts.
    std::fs::create_dir_all(dir.join("config")).expect("scratch dir");
    for sub in ["dialplans", "prompts"] {
        let ok = std::process::Command::new("cp")
            .arg("-r")
            .arg(root().join(sub))
            .arg(&dir)
            .status()
            .expect("cp");
        assert!(ok.success());
    }
    // A CD-quality WAV where an 8 kHz one belongs, and a prompt deleted.
    std::fs::write(dir.join("prompts/en/closing.wav"), cd_quality_wav()).expect("write");
    std::fs::remove_file(dir.join("prompts/yue/menu.wav")).expect("remove");
    let errs =
        load_assets(&model(), AssetSource::Dir(&dir.join("config"))).expect_err("two problems");
    let _ = std::fs::remove_dir_all(&dir);
    let codes: Vec<&str> = errs.iter().map(|d| d.code).collect();
    assert!(codes.contains(&"AS002"), "{errs:#?}");
    assert!(
        errs.iter().any(|d| d.code == "AS002"
            && d.file.ends_with("prompts/en/closing.wav")
            && d.message.contains("44100 Hz")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|d| d.code == "IV104" && d.message.contains("menu") && d.message.contains("yue")),
        "{errs:#?}"
    );
}

/// A 44.1 kHz stereo WAV header with a few samples, written by hand (RIFF/WAVE, PCM).
fn cd_quality_wav() -> Vec<u8> {
    let samples: [i16; 4] = [0, 1, -1, 0];
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&44_100u32.to_le_bytes());
    v.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}
