//! The real components that tests and benchmarks start for themselves, in one place: a throwaway
//! PostgreSQL server ([`postgres`]) and a `planform sandbox serve` process ([`sandbox`]). Each
//! lives in a temporary directory on a free loopback port and is stopped when dropped.
//!
//! Test-only (`publish = false`, a dev-dependency of the crates whose tests use it). A component
//! that cannot start is a test failure, so failures panic with what went wrong and what to do
//! (`scripts/setup-postgres` for a machine without PostgreSQL); nothing here skips silently.

pub mod postgres;
pub mod sandbox;

use std::net::TcpListener;

/// A loopback port no one listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
