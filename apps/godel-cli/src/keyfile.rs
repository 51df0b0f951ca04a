//! Finding the credential: `--api-key` / `GODEL_API_KEY`, else the admin key file the local
//! server wrote (`./.godel/admin.key`, then `$GODEL_DATA_DIR/admin.key`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The key file's name inside a data directory.
const KEY_FILE: &str = "admin.key";

/// Where the credential came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `--api-key` or `GODEL_API_KEY`.
    Given,
    /// A key file.
    File(PathBuf),
}

/// A credential and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The key.
    pub(crate) key: String,
    /// Where it was found.
    pub(crate) source: Source,
}

/// The credential to use: `given` when set and not blank, else the first key file that
/// exists among `<cwd>/.godel/admin.key` and `<data_dir>/admin.key`; `None` when there is
/// none.
///
/// # Errors
/// A key file that exists but cannot be read, or is empty, is an error naming it (silently
/// skipping it would send unauthenticated requests and hide why).
pub(crate) fn discover(
    given: Option<&str>,
    cwd: &Path,
    data_dir: Option<&Path>,
) -> anyhow::Result<Option<Found>> {
    if let Some(key) = given.map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(Some(Found {
            key: key.to_owned(),
            source: Source::Given,
        }));
    }
    let candidates = std::iter::once(cwd.join(".godel").join(KEY_FILE))
        .chain(data_dir.map(|d| d.join(KEY_FILE)));
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("read the API key file {}", path.display()))?;
        let key = text.trim();
        anyhow::ensure!(
            !key.is_empty(),
            "the API key file {} is empty",
            path.display()
        );
        return Ok(Some(Found {
            key: key.to_owned(),
            source: Source::File(path),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_key(dir: &Path, key: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(KEY_FILE);
        std::fs::write(&path, key).unwrap();
        path
    }

    #[test]
    fn a_given_key_wins_over_files() {
        let cwd = tempfile::tempdir().unwrap();
        write_key(&cwd.path().join(".godel"), "dk_file\n");
        let found = discover(Some(" dk_given "), cwd.path(), None)
            .unwrap()
            .unwrap();
        assert_eq!(found.key, "dk_given");
        assert_eq!(found.source, Source::Given);
    }

    #[test]
    fn the_local_key_file_comes_before_the_data_dir() {
        let cwd = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let local = write_key(&cwd.path().join(".godel"), "dk_local\n");
        write_key(data.path(), "dk_data");
        let found = discover(None, cwd.path(), Some(data.path()))
            .unwrap()
            .unwrap();
        assert_eq!(found.key, "dk_local");
        assert_eq!(found.source, Source::File(local));
    }

    #[test]
    fn the_data_dir_is_used_when_there_is_no_local_file_and_blank_keys_fall_through() {
        let cwd = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let path = write_key(data.path(), "  dk_data  \n");
        let found = discover(Some("   "), cwd.path(), Some(data.path()))
            .unwrap()
            .unwrap();
        assert_eq!(found.key, "dk_data");
        assert_eq!(found.source, Source::File(path));
    }

    #[test]
    fn no_key_anywhere_is_none_and_an_empty_file_is_an_error() {
        let cwd = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        assert_eq!(discover(None, cwd.path(), Some(data.path())).unwrap(), None);
        let path = write_key(&cwd.path().join(".godel"), "\n");
        let e = discover(None, cwd.path(), None).unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}
