//! The files a sink writes in place of a path, Flink's way: each is written hidden (`.name`
//! with an `.inprogress` suffix), made durable at a checkpoint, and renamed into its final
//! name only once the checkpoint that covers it completed (or, without checkpoints, when the
//! job succeeds). A reader of the directory sees only whole, committed files.
//!
//! A file path gets one such file. A directory gets part files `part-00000`, `part-00001`,
//! ... (numbered so that name order is write order): a checkpoint closes the part being
//! written, so each completed checkpoint makes a part visible.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::State;
use crate::checkpoint::store::sync_dir;
use crate::{EngineError, Result};

/// What the files are named after.
#[derive(Debug, Clone)]
enum Naming {
    /// One file at this name.
    Single(String),
    /// Numbered part files.
    Parts,
}

/// The file being written.
struct Current {
    number: u64,
    file: BufWriter<File>,
}

/// What a checkpoint keeps of the files.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpointed {
    /// The next part's number.
    next: u64,
    /// Files closed and not yet committed.
    pending: Vec<u64>,
    /// The open file's number and durable length (a single file stays open to the end).
    open: Option<(u64, u64)>,
}

/// Hidden files committed by rename (see the module documentation).
pub(crate) struct PartFiles {
    dir: PathBuf,
    naming: Naming,
    /// The permissions of the file replaced, if any (new files get 0666 less the umask).
    permissions: Option<Permissions>,
    current: Option<Current>,
    next: u64,
    /// Closed files by the checkpoint that closed them (`u64::MAX`: the end of input).
    pending: Vec<(u64, u64)>,
    /// Whether a checkpoint may name the hidden files: then they outlive a failed run.
    checkpointed: bool,
    /// Whether the files go on from a checkpoint (else hidden files found are garbage).
    restored: bool,
}

impl PartFiles {
    /// One file at `path` (a regular file's real path, or a new one).
    pub fn single(path: &Path) -> io::Result<PartFiles> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("names no file"))?
            .to_string_lossy()
            .into_owned();
        let permissions = fs::metadata(path).ok().map(|m| m.permissions());
        Self::new(dir, Naming::Single(name), permissions)
    }

    /// Part files in directory `dir`, created if missing.
    pub fn parts(dir: &Path) -> io::Result<PartFiles> {
        fs::create_dir_all(dir)?;
        Self::new(dir.to_path_buf(), Naming::Parts, None)
    }

    fn new(
        dir: PathBuf,
        naming: Naming,
        permissions: Option<Permissions>,
    ) -> io::Result<PartFiles> {
        // Fail early when the directory cannot be written (asked of the kernel: a probe file
        // could be left behind by a crash).
        let c_dir =
            std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
        // SAFETY: `c_dir` is a valid NUL-terminated string that outlives the call.
        if unsafe { libc::access(c_dir.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PartFiles {
            dir,
            naming,
            permissions,
            current: None,
            next: 0,
            pending: Vec::new(),
            checkpointed: false,
            restored: false,
        })
    }

    fn final_path(&self, number: u64) -> PathBuf {
        match &self.naming {
            Naming::Single(name) => self.dir.join(name),
            Naming::Parts => self.dir.join(format!("part-{number:05}")),
        }
    }

    fn hidden_path(&self, number: u64) -> PathBuf {
        match &self.naming {
            Naming::Single(name) => self.dir.join(format!(".{name}.inprogress")),
            Naming::Parts => self.dir.join(format!(".part-{number:05}.inprogress")),
        }
    }

    /// The writer of the file being written, opened if none is.
    pub fn writer(&mut self) -> io::Result<&mut dyn Write> {
        if self.current.is_none() {
            let number = self.next;
            if number == 0 && !self.restored {
                // A fresh run: hidden parts of an earlier one that crashed are garbage.
                self.remove_hidden_parts(0).map_err(io::Error::other)?;
            }
            self.next += 1;
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(self.hidden_path(number))?;
            if let Some(permissions) = &self.permissions {
                file.set_permissions(permissions.clone())?;
            }
            self.current = Some(Current {
                number,
                file: BufWriter::with_capacity(1 << 16, file),
            });
        }
        Ok(&mut self.current.as_mut().expect("opened above").file)
    }

    /// Makes what was written durable for checkpoint `id` (`u64::MAX`: the end of input),
    /// closing the file being written unless it is the single file of a run still going;
    /// returns the open file's number and durable length.
    fn close(&mut self, id: u64) -> io::Result<Option<(u64, u64)>> {
        let single = matches!(self.naming, Naming::Single(_));
        if single && id == u64::MAX && self.current.is_none() && self.pending.is_empty() {
            // Nothing was written: the file is committed empty.
            self.writer()?;
        }
        let Some(current) = &mut self.current else {
            return Ok(None);
        };
        current.file.flush()?;
        current.file.get_ref().sync_data()?;
        if single && id != u64::MAX {
            let bytes = current.file.get_ref().metadata()?.len();
            return Ok(Some((current.number, bytes)));
        }
        self.pending.push((id, current.number));
        self.current = None;
        Ok(None)
    }

    /// Makes what was written durable for checkpoint `id` (see [`PartFiles::close`]) and
    /// returns what a restore needs to commit it.
    pub fn snapshot(&mut self, id: u64) -> io::Result<State> {
        self.checkpointed = true;
        let open = self.close(id)?;
        let checkpointed = Checkpointed {
            next: self.next,
            pending: self.pending.iter().map(|(_, n)| *n).collect(),
            open,
        };
        let mut state = State::new();
        state
            .put("files", &checkpointed)
            .map_err(io::Error::other)?;
        Ok(state)
    }

    /// Commits the files closed by checkpoints up to `id`, in order (`u64::MAX`: every
    /// file, closing the one being written).
    pub fn commit(&mut self, id: u64) -> io::Result<()> {
        if id == u64::MAX {
            self.close(id)?;
        }
        let (due, later): (Vec<_>, Vec<_>) = self.pending.iter().partition(|(c, _)| *c <= id);
        self.pending = later;
        for (_, number) in due {
            self.publish(number)?;
            crate::fault::point("between-sink-renames");
        }
        sync_dir(&self.dir).map_err(io::Error::other)
    }

    /// Renames file `number` into its final name; done already if only that name exists.
    fn publish(&self, number: u64) -> io::Result<()> {
        let (hidden, visible) = (self.hidden_path(number), self.final_path(number));
        match fs::rename(&hidden, &visible) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && visible.exists() => Ok(()),
            result => result,
        }
    }

    /// Resumes from a checkpoint: commits the files it closed, cuts the open file back to
    /// its checkpointed length, and removes the files written after it.
    pub fn restore(&mut self, state: &State) -> Result<()> {
        let io_error = |path: &Path, source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let checkpointed: Checkpointed = state.get("files")?;
        self.checkpointed = true;
        self.restored = true;
        for number in &checkpointed.pending {
            let hidden = self.hidden_path(*number);
            self.publish(*number).map_err(|e| io_error(&hidden, e))?;
        }
        self.next = checkpointed.next;
        if let Some((number, bytes)) = checkpointed.open {
            let hidden = self.hidden_path(number);
            let file = OpenOptions::new()
                .write(true)
                .open(&hidden)
                .map_err(|e| io_error(&hidden, e))?;
            file.set_len(bytes).map_err(|e| io_error(&hidden, e))?;
            let mut file = BufWriter::with_capacity(1 << 16, file);
            io::Seek::seek(file.get_mut(), io::SeekFrom::End(0))
                .map_err(|e| io_error(&hidden, e))?;
            self.current = Some(Current { number, file });
        }
        self.remove_hidden_parts(self.next)?;
        sync_dir(&self.dir)
    }
}

impl PartFiles {
    /// Removes the hidden part files numbered from `first` on: written after the checkpoint
    /// restored, or by a run that crashed before its first checkpoint.
    fn remove_hidden_parts(&self, first: u64) -> Result<()> {
        if let Naming::Single(_) = self.naming {
            return Ok(());
        }
        let io_error = |path: &Path, source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        for entry in fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))? {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            let name = entry.file_name();
            let number = name
                .to_str()
                .and_then(|n| n.strip_prefix(".part-"))
                .and_then(|n| n.strip_suffix(".inprogress"))
                .and_then(|n| n.parse::<u64>().ok());
            if number.is_some_and(|n| n >= first) {
                fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
            }
        }
        Ok(())
    }
}

impl Drop for PartFiles {
    /// Without a checkpoint naming them, uncommitted files are of a failed run: removed.
    fn drop(&mut self) {
        if self.checkpointed {
            return;
        }
        let numbers = self.current.iter().map(|c| c.number);
        for number in numbers.chain(self.pending.iter().map(|(_, n)| *n)) {
            let _ = fs::remove_file(self.hidden_path(number));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_restore_commits_what_its_checkpoint_closed_and_drops_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = PartFiles::parts(dir.path()).unwrap();
        files.writer().unwrap().write_all(b"one\n").unwrap();
        let state = files.snapshot(1).unwrap();
        files.writer().unwrap().write_all(b"two\n").unwrap();
        files.snapshot(2).unwrap();
        files.writer().unwrap().write_all(b"three\n").unwrap();
        // A crash before checkpoint 1 completed: nothing is visible, nothing is removed.
        drop(files);
        assert_eq!(
            names(dir.path()),
            [
                ".part-00000.inprogress",
                ".part-00001.inprogress",
                ".part-00002.inprogress"
            ]
        );
        let mut files = PartFiles::parts(dir.path()).unwrap();
        files.restore(&state).unwrap();
        assert_eq!(names(dir.path()), ["part-00000"]);
        assert_eq!(
            fs::read_to_string(dir.path().join("part-00000")).unwrap(),
            "one\n"
        );
        // Restoring again (a crash during the restore) does the same.
        files.restore(&state).unwrap();
        assert_eq!(names(dir.path()), ["part-00000"]);
        files.writer().unwrap().write_all(b"two\n").unwrap();
        files.commit(u64::MAX).unwrap();
        assert_eq!(names(dir.path()), ["part-00000", "part-00001"]);
    }

    #[test]
    fn a_fresh_run_removes_the_hidden_parts_of_a_crashed_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".part-00003.inprogress"), "stale").unwrap();
        let mut files = PartFiles::parts(dir.path()).unwrap();
        files.writer().unwrap().write_all(b"new\n").unwrap();
        files.commit(u64::MAX).unwrap();
        assert_eq!(names(dir.path()), ["part-00000"]);
    }

    #[test]
    fn a_single_file_is_cut_back_to_its_checkpointed_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut files = PartFiles::single(&path).unwrap();
        files.writer().unwrap().write_all(b"kept\n").unwrap();
        let state = files.snapshot(1).unwrap();
        files
            .writer()
            .unwrap()
            .write_all(b"written after\n")
            .unwrap();
        files.writer().unwrap().flush().unwrap();
        drop(files);
        let mut files = PartFiles::single(&path).unwrap();
        files.restore(&state).unwrap();
        files.writer().unwrap().write_all(b"again\n").unwrap();
        files.commit(u64::MAX).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "kept\nagain\n");
        assert_eq!(names(dir.path()), ["out.csv"]);
    }
}
