//! The default stream directory, resolved once per process.
//!
//! `MILK_SHM_DIR` if it is set and names an existing directory; otherwise (with a warning on
//! stderr when it is set but unusable) `/milk/shm` if that exists, else `/tmp`. The variable is
//! read through `shmim-envcache`, so the first resolution freezes it for the life of the process
//! (set it before starting, as with the legacy library). Code that needs another directory passes
//! it explicitly ([`crate::StreamSpec::dir`], [`crate::Stream::open_in`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shmim_layout::{FALLBACK_DIR, SHAREDMEMDIR, SHM_DIR_ENV};

/// The default stream directory of this process.
pub fn default_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        resolve(
            shmim_envcache::var_os(SHM_DIR_ENV)
                .as_deref()
                .map(Path::new),
        )
    })
}

/// The resolution rule, given the variable's value.
pub(crate) fn resolve(env: Option<&Path>) -> PathBuf {
    if let Some(dir) = env {
        if dir.is_dir() {
            return dir.to_path_buf();
        }
        // A warning that cannot be written (stderr full, closed, or a broken pipe with SIGPIPE
        // ignored) is dropped: `eprintln!` would panic, and every later call would fail.
        let _ = writeln!(
            std::io::stderr(),
            "shmim: {SHM_DIR_ENV}={} is not an existing directory; using the default stream directory",
            dir.display()
        );
    }
    if Path::new(SHAREDMEMDIR).is_dir() {
        PathBuf::from(SHAREDMEMDIR)
    } else {
        PathBuf::from(FALLBACK_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_directory_from_the_environment_wins() {
        let tmp = std::env::temp_dir();
        assert_eq!(resolve(Some(&tmp)), tmp);
    }

    #[test]
    fn a_missing_directory_falls_back() {
        let fallback = resolve(Some(Path::new("/nonexistent/shmim")));
        assert!(fallback == Path::new(SHAREDMEMDIR) || fallback == Path::new(FALLBACK_DIR));
    }
}
