//! The one way planform replaces a file: a new file under a random name in the same directory,
//! created exclusively (`create_new`, never following a symlink), with the mode asked for,
//! written and fsynced, renamed over the target, and the directory fsynced. A pre-existing file
//! or symlink at any name planform might use can neither redirect the write nor widen the mode.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically with mode 0600 (state and plan files).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with_mode(path, bytes, 0o600)
}

/// Writes `bytes` to `path` atomically with `mode` (exactly: the umask does not narrow it and
/// nothing found on the disk widens it). Readers see the old file or the new one, never a mix.
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = directory_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let tmp = dir.join(tmp_name);
    let result = write_new(&tmp, bytes, mode).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_directory(&dir)
}

/// The directory a file lives in (`.` for a bare name).
pub(crate) fn directory_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn write_new(tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let mut f = opts.open(tmp)?;
    #[cfg(unix)]
    {
        // The umask may have narrowed the mode; set exactly what was asked for.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes a rename or a new file in `dir` durable.
pub(crate) fn sync_directory(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn replaces_with_mode_0600_even_over_a_wider_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_symlink_at_the_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomically(&path, b"secret").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(mode(&victim), 0o644);
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn the_old_predictable_temp_names_cannot_redirect_or_widen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        // What an attacker could plant under the names planform used to use.
        let planted = dir
            .path()
            .join(format!(".state.json.tmp-{}", std::process::id()));
        std::fs::write(&planted, "").unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("state.fmt-tmp")).unwrap();
        write_atomically(&path, b"secret").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&planted).unwrap(), "");
    }

    #[test]
    fn keeps_an_asked_mode_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.hcl");
        write_atomically_with_mode(&path, b"x", 0o664).unwrap();
        assert_eq!(mode(&path), 0o664);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/state.json");
        assert!(write_atomically(&path, b"x").is_err());
        assert!(!dir.path().join("no").exists());
    }
}
