//! Operation-sequence testing of the engine: seeded random sequences of what phones,
//! strangers, agents and the control API do, on virtual time; the engine's tables must
//! agree after every step and every call must end exactly once. `fuzz/` runs the same
//! driver on a fuzzer's bytes.

use sb_testkit::ops::{Driver, Seeded};

#[test]
fn random_operation_sequences_keep_the_engine_consistent() {
    for seed in 0..60u64 {
        let mut d = Driver::new();
        if let Err(e) = d.run(&mut Seeded::new(seed, 400)) {
            panic!("seed {seed}: {e}");
        }
    }
}
