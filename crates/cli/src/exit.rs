//! Exit codes of spec §3, decided only by the commands.

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const CHANGES: u8 = 2;
/// `apply`: plans await approval; `fmt --check`: files would change.
pub const PENDING: u8 = 3;
