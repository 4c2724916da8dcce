//! How a sink writes to a path. A regular file (or a new one) is replaced atomically: rows go
//! to a hidden file beside it, renamed over it only when the job succeeds (see
//! [`PartFiles`]), so a failed job leaves the old file whole. Anything else a path can name — a device such as `/dev/null`, a
//! FIFO, a socket, a descriptor alias such as `/dev/stdout` — is written in place, since
//! renaming over it would destroy it. Symbolic links are followed to the file they name.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::part_files::PartFiles;

/// Links followed before giving up, as the kernel's `ELOOP` limit.
const MAX_LINKS: usize = 40;

/// An open file target.
pub(crate) enum FileTarget {
    /// Hidden files renamed into place when committed.
    Replace(PartFiles),
    /// A path written in place; opened at the first write, since opening a FIFO waits for
    /// its reader.
    InPlace {
        path: PathBuf,
        file: Option<BufWriter<File>>,
    },
}

/// What a path names once its symbolic links are followed.
#[derive(Debug, PartialEq)]
enum Resolved {
    /// A regular file, or nothing yet: replace it atomically at this (real) path.
    Replace(PathBuf),
    /// Something that is not a regular file: write through the path as given.
    InPlace,
}

impl FileTarget {
    /// Prepares to write `path`; fails early when its directory cannot be written.
    pub fn open(path: &Path) -> io::Result<FileTarget> {
        match resolve(path)? {
            Resolved::InPlace => Ok(FileTarget::InPlace {
                path: path.to_path_buf(),
                file: None,
            }),
            Resolved::Replace(real) => Ok(FileTarget::Replace(PartFiles::single(&real)?)),
        }
    }

    /// Part files in directory `dir`.
    pub fn directory(dir: &Path) -> io::Result<FileTarget> {
        Ok(FileTarget::Replace(PartFiles::parts(dir)?))
    }

    /// Whether rows are written where a reader sees them at once (so each batch is flushed).
    pub fn in_place(&self) -> bool {
        matches!(self, FileTarget::InPlace { .. })
    }

    /// The writer for rows.
    pub fn writer(&mut self) -> io::Result<&mut dyn Write> {
        Ok(match self {
            FileTarget::Replace(files) => files.writer()?,
            FileTarget::InPlace { path, file } => match file {
                Some(file) => file,
                None => file.insert(BufWriter::with_capacity(
                    1 << 16,
                    // Appending keeps what others wrote before, e.g. to a redirected stdout.
                    OpenOptions::new().append(true).open(path)?,
                )),
            },
        })
    }
}

/// Follows `path`'s symbolic links to what it finally names.
fn resolve(path: &Path) -> io::Result<Resolved> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&current) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Resolved::Replace(current)),
            meta => meta?,
        };
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(Resolved::Replace(current));
        }
        if kind.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        if !kind.is_symlink() || current.starts_with("/proc") {
            // A device, FIFO or socket; or a link of /proc (`/dev/stdout` leads to
            // `/proc/self/fd/1`), which names an open file rather than a path.
            return Ok(Resolved::InPlace);
        }
        let link = std::fs::read_link(&current)?;
        current = match current.parent() {
            Some(dir) => dir.join(link),
            None => link,
        };
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

#[cfg(test)]
mod tests {
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write_and_commit(path: &Path, text: &str) {
        let mut target = FileTarget::open(path).unwrap();
        target.writer().unwrap().write_all(text.as_bytes()).unwrap();
        match &mut target {
            FileTarget::Replace(files) => files.commit(u64::MAX).unwrap(),
            FileTarget::InPlace { file, .. } => file.as_mut().unwrap().flush().unwrap(),
        }
    }

    #[test]
    fn devices_and_descriptor_aliases_are_written_in_place() {
        assert_eq!(resolve(Path::new("/dev/null")).unwrap(), Resolved::InPlace);
        assert_eq!(
            resolve(Path::new("/dev/stdout")).unwrap(),
            Resolved::InPlace
        );
        write_and_commit(Path::new("/dev/null"), "gone\n");
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &meta.file_type()
        ));
    }

    #[test]
    fn a_symlink_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("sub/real.csv");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(&real, "old\n").unwrap();
        std::fs::set_permissions(&real, Permissions::from_mode(0o640)).unwrap();
        // A relative link to a relative link.
        let first = dir.path().join("first.csv");
        std::os::unix::fs::symlink("sub/real.csv", dir.path().join("second.csv")).unwrap();
        std::os::unix::fs::symlink("second.csv", &first).unwrap();
        write_and_commit(&first, "new\n");
        assert!(
            std::fs::symlink_metadata(&first)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // A dangling link creates the file it names.
        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink("made.csv", &dangling).unwrap();
        write_and_commit(&dangling, "made\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("made.csv")).unwrap(),
            "made\n"
        );
        // A loop is an error, not a hang.
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert!(FileTarget::open(&a).is_err());
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "old\n").unwrap();
        let mut target = FileTarget::open(&path).unwrap();
        target.writer().unwrap().write_all(b"half").unwrap();
        drop(target);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "the temporary file is removed");
        assert!(
            FileTarget::open(dir.path()).is_err(),
            "a directory is refused"
        );
    }
}
