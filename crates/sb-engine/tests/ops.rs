//! Operation-sequence testing of the engine: seeded random sequences of what phones,
//! strangers, agents and the control API do, on virtual time; the engine's tables must
//! agree after every step and every call must end exactly once. `fuzz/` runs the same
//! driver on a fuzzer's bytes.

use sb_testkit::ops::{Driver, Seeded};
use sb_testkit::Link;

#[test]
fn random_operation_sequences_keep_the_engine_consistent() {
    for seed in 0..60u64 {
        let mut d = Driver::new();
        if let Err(e) = d.run(&mut Seeded::new(seed, 400)) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn over_a_lossy_link_the_engine_stays_consistent_and_every_call_ends() {
    // A tenth of the SIP messages and RTP packets lost either way, one in twenty twice.
    let (mut lost, mut twice) = (0, 0);
    for seed in 0..30u64 {
        let mut d = Driver::over(Some(Link::new(0.1, 0.05, 1000 + seed)));
        if let Err(e) = d.run(&mut Seeded::new(seed, 400)) {
            panic!("seed {seed}: {e}");
        }
        let link = d.s.link.as_ref().expect("the link");
        lost += link.lost;
        twice += link.duplicated;
    }
    // About 9,700 messages and packets cross the link in these sequences.
    assert!(
        lost > 500 && twice > 200,
        "the link lost {lost} and doubled {twice}"
    );
}
