//! One rule for every path a command writes (`--out`, `--pcap`): checked before any work, so
//! that a run's results are not lost to a path that cannot take them. The folder it goes in
//! must exist (rstlab creates none of the user's folders on its own); a file must not be a
//! folder, and a folder must not be a file. A folder that does not exist yet is created only
//! when the first file goes in ([`create_folder`]): nothing empty is left behind.

use std::io;
use std::path::Path;

use anyhow::{Context, bail};

/// What a flag names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A file, written (or replaced) whole.
    File,
    /// A folder that files go into.
    Folder,
}

/// Refuses `path` (the value of `flag`) where it cannot take what the command writes.
pub fn check_output(flag: &str, path: &Path, kind: Kind) -> anyhow::Result<()> {
    if path.as_os_str().is_empty() {
        bail!("{flag} is empty: give a path");
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "{flag} {}: {} is not a folder",
            path.display(),
            parent.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "{flag} {}: the folder {} does not exist (rstlab creates none)",
            path.display(),
            parent.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| {
                format!("{flag} {}: reading {}", path.display(), parent.display())
            });
        }
    }
    match (kind, std::fs::metadata(path)) {
        (Kind::File, Ok(m)) if m.is_dir() => {
            bail!("{flag} {}: a folder, not a file", path.display())
        }
        (Kind::Folder, Ok(m)) if !m.is_dir() => {
            bail!("{flag} {}: not a folder", path.display())
        }
        _ => Ok(()),
    }
}

/// Creates the folder `path` (checked by [`check_output`]) when the first file goes in.
pub fn create_folder(flag: &str, path: &Path) -> anyhow::Result<()> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            Err(e).with_context(|| format!("{flag} {}: creating the folder", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_parent_a_file_for_a_folder_and_a_folder_for_a_file_are_refused() {
        let missing = Path::new("/nonexistent-rstlab/dir");
        let e = check_output("--pcap", missing, Kind::Folder).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--pcap /nonexistent-rstlab/dir: the folder /nonexistent-rstlab does not exist \
             (rstlab creates none)"
        );
        let e = check_output("--pcap", Path::new("/dev/full"), Kind::Folder).unwrap_err();
        assert_eq!(e.to_string(), "--pcap /dev/full: not a folder");
        let e = check_output("--out", Path::new("/tmp"), Kind::File).unwrap_err();
        assert_eq!(e.to_string(), "--out /tmp: a folder, not a file");
        let e = check_output("--out", Path::new("/dev/null/x"), Kind::File).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--out /dev/null/x: /dev/null is not a folder"
        );
        assert!(check_output("--out", Path::new("new-file.json"), Kind::File).is_ok());
        assert!(check_output("--pcap", Path::new("new-folder"), Kind::Folder).is_ok());
    }
}
