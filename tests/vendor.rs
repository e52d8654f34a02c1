//! The consoles' vendored JavaScript and CSS (web/vendor/) are what the manifest pins: each
//! file's SHA-256 as `scripts/vendor_web.py` fetched and checked it from the npm registry. A
//! file edited by hand, or left behind by a version change, fails here.

use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[test]
fn vendored_web_assets_match_their_manifest() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/vendor");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest is JSON");
    let packages = manifest["packages"].as_array().expect("packages");
    let mut checked = 0;
    for pkg in packages {
        let version = pkg["version"].as_str().expect("version");
        assert!(
            !version.is_empty() && !version.contains(['^', '~', '*', 'x']),
            "{} is not pinned: {version}",
            pkg["name"]
        );
        assert!(
            pkg["integrity"]
                .as_str()
                .is_some_and(|i| i.starts_with("sha512-")),
            "{}: no sha512 integrity",
            pkg["name"]
        );
        for spec in pkg["files"].as_object().expect("files").values() {
            let name = spec["to"].as_str().expect("to");
            let want = spec["sha256"].as_str().expect("sha256");
            let body = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got: String = Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, want, "{name} is not the file the manifest pins");
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "htmx, its SSE extension and uPlot (script and style)"
    );
}
