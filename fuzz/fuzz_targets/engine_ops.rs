#![no_main]
//! The engine driven by operation sequences read from the fuzzer's bytes (patients' and
//! agents' phones, strangers' RTP, the control API, time passing), on virtual time, with
//! the engine's tables checked against each other after every step and every call ended
//! exactly once at the end. The same driver runs seeded in `cargo test`
//! (crates/sb-engine/tests/ops.rs).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = sb_testkit::ops::Driver::new();
    if let Err(e) = d.run(&mut sb_testkit::ops::Bytes(data)) {
        panic!("{e}");
    }
});
