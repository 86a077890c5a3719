//! Free loopback ports.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

/// A loopback TCP port that nothing listens on right now.
///
/// The OS picks it; ports handed out before by this process are never handed out again, so
/// tests that ask for several ports before starting anything get distinct ones.
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            // Binding port 0 on loopback only fails when the machine is out of ports.
            .unwrap_or_else(|e| panic!("no free loopback port: {e}"));
        let mut g = given.lock().unwrap_or_else(|p| p.into_inner());
        if g.insert(port) {
            return port;
        }
    }
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
            TcpListener::bind(("127.0.0.1", p)).expect("port is free");
        }
    }
}
