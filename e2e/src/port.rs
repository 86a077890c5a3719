//! Free loopback ports.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

/// Ports handed out: below Linux's ephemeral range (32768-60999 by default). A port the
/// kernel picked for `bind(0)` is in that range, and in the time between choosing it and the
/// server binding it the kernel may give it to any outgoing connection on the machine; no
/// outgoing connection takes a port from this range.
const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// A loopback TCP port that nothing listens on right now.
///
/// Chosen at random in [`RANGE`] (test processes run side by side, each with its own picks)
/// and checked by binding it; ports handed out before by this process are never handed out
/// again, so tests that ask for several ports before starting anything get distinct ones.
/// Servers that can bind port 0 and report the port they got should do that instead.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    let span = u64::from(RANGE.end - RANGE.start);
    // std's hasher keys are random per process: enough randomness, no crate for it.
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0..10 * span {
        let pick = random.hash_one(attempt) % span;
        let port = RANGE.start + u16::try_from(pick).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut g = given.lock().unwrap_or_else(|p| p.into_inner());
        if g.insert(port) {
            return port;
        }
    }
    panic!("no free loopback port in {RANGE:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
        let set: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(set.len(), ports.len());
        for p in ports {
            assert!(RANGE.contains(&p), "{p} is in the ephemeral range");
            TcpListener::bind(("127.0.0.1", p)).expect("port is free");
        }
    }
}
