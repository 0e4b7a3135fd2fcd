//! The sandbox's data directory: its databases hold parameter values in clear and the nonces
//! of signed requests, so the directory is its owner's alone (0700) and so are the database
//! files in it (0600), whether they are created now or were created looser by an older version.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The emulator's database.
pub const SANDBOX_DB: &str = "sandbox.redb";
/// The signature nonces `sandbox serve` has seen.
pub const NONCE_DB: &str = "nonces.redb";

/// Creates `dir` (0700, and any missing parents likewise) and the database files in it (0600),
/// and takes group and other permissions away from those that exist.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    tighten(dir, 0o700)?;
    for name in [SANDBOX_DB, NONCE_DB] {
        let path = dir.join(name);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        tighten(&path, 0o600)?;
    }
    Ok(())
}

/// Removes every permission `path` has beyond `mode`.
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_data_is_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(".planform/sandbox");
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join(".planform")), 0o700);
        assert_eq!(mode(&dir.join(SANDBOX_DB)), 0o600);
        assert_eq!(mode(&dir.join(NONCE_DB)), 0o600);
        // The store opens the file prepared for it, and its mode stays.
        drop(crate::store::Store::open(&dir.join(SANDBOX_DB)).unwrap());
        assert_eq!(mode(&dir.join(SANDBOX_DB)), 0o600);
    }

    #[test]
    fn loose_existing_data_is_tightened_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        let db = dir.join(SANDBOX_DB);
        std::fs::write(&db, b"kept").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::read(&db).unwrap(), b"kept");
    }
}
