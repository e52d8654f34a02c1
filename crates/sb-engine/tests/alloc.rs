//! The per-packet path allocates nothing: on a bridged call, RTP relayed both ways (with
//! transcoding, PCMU to the patient and PCMA to the agent) goes through `handle_rtp` and
//! out of `drain_rtp` without a single allocation once the outgoing queue has grown to a
//! turn's size. Counted by a global allocator wrapped for this test binary alone.

use sb_testkit::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the count is a
// relaxed atomic, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn relaying_a_bridged_calls_packets_allocates_nothing() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let _agent_invite = bridged_to_1003(&mut s);
    // Every packet is built before counting starts.
    let patient: Vec<Vec<u8>> = (0..400u16)
        .map(|i| rtp_packet(0, 1_000 + i, 160 * u32::from(i), &[0x55; 160]))
        .collect();
    let agent: Vec<Vec<u8>> = (0..400u16)
        .map(|i| rtp_packet(8, 2_000 + i, 160 * u32::from(i), &[0x2A; 160]))
        .collect();
    let (patient_from, agent_from) = (addr(PHONE_RTP), addr(AGENT_RTP));
    let now = s.clock.now();
    let mut relayed = 0usize;
    // Warm-up: the outgoing queue grows to a turn's size.
    for i in 0..40 {
        s.engine.handle_rtp(now, 20_002, patient_from, &patient[i]);
        s.engine.handle_rtp(now, 30_002, agent_from, &agent[i]);
    }
    s.engine.drain_rtp(|_| relayed += 1);
    assert_eq!(relayed, 80, "both ways relayed");
    relayed = 0;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 40..400 {
        s.engine.handle_rtp(now, 20_002, patient_from, &patient[i]);
        s.engine.handle_rtp(now, 30_002, agent_from, &agent[i]);
        if i % 20 == 0 {
            s.engine.drain_rtp(|_| relayed += 1);
        }
    }
    s.engine.drain_rtp(|_| relayed += 1);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(relayed, 720, "every packet relayed");
    assert_eq!(allocations, 0, "allocations on the relay path");
}
