//! Choosing a gateway's base port: free on loopback, with the ports it derives from it
//! (up to base + [`DERIVED_SPAN`]) free too, and at least [`MIN_GAP`] from every other gateway.

use std::io;
use std::net::{Ipv4Addr, TcpListener};

/// A gateway listens on further ports up to its base port plus this.
pub(crate) const DERIVED_SPAN: u16 = 110;

/// Two gateways' base ports are at least this far apart.
pub(crate) const MIN_GAP: u16 = 120;

/// Candidates tried before giving up.
const ATTEMPTS: usize = 64;

/// A base port free on `127.0.0.1` whose derived ports are free too and which keeps
/// [`MIN_GAP`] from every port in `taken`.
///
/// # Errors
/// When no such port turns up in [`ATTEMPTS`] tries, or binding fails altogether.
pub(crate) fn pick(taken: &[u16]) -> io::Result<u16> {
    for _ in 0..ATTEMPTS {
        let candidate = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if acceptable(candidate, taken) {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no free loopback port range of {DERIVED_SPAN} ports found"),
    ))
}

fn acceptable(base: u16, taken: &[u16]) -> bool {
    let Some(last) = base.checked_add(DERIVED_SPAN) else {
        return false;
    };
    taken.iter().all(|&t| base.abs_diff(t) >= MIN_GAP)
        && (base..=last).all(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_keep_their_distance() {
        let first = pick(&[]).expect("a port");
        let second = pick(&[first]).expect("another port");
        assert!(first.abs_diff(second) >= MIN_GAP);
        assert!(second.checked_add(DERIVED_SPAN).is_some());
    }

    #[test]
    fn a_port_in_use_or_too_close_is_refused() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = held.local_addr().expect("addr").port();
        assert!(!acceptable(port, &[]));
        assert!(!acceptable(port.saturating_sub(5), &[]) || port < 5);
        assert!(!acceptable(40_000, &[40_100]));
        assert!(!acceptable(u16::MAX - 10, &[]));
    }
}
