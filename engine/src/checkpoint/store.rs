//! A checkpoint directory: one `chk-<id>` directory per checkpoint, holding each node's state
//! and, written last, the `_metadata` manifest that makes the checkpoint complete. The
//! manifest goes to a temporary file that is made durable and then renamed into place (and
//! the directory made durable), so a crash leaves a checkpoint whole or without a manifest,
//! never half-written. The last two complete checkpoints are kept.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use arrow::error::ArrowError;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::State;
use crate::dataflow::NodeId;
use crate::{EngineError, Result};

/// The version of the manifest and state layout; a checkpoint of another version is refused.
/// (2: MATCH_RECOGNIZE's partitions keep held rows, open attempts and the times of rows.
/// 3: a GROUP BY keeps its groups as columns and each aggregate call's state apart.
/// 4: MATCH_RECOGNIZE's rows hold only the input columns it reads.
/// 5: joins keep rows in a compact encoding.
/// 6: a regular join's sides keep the rows not yet in their buckets apart.
/// 7: MATCH_RECOGNIZE numbers its attempts, as rows where no match can start make none.)
const FORMAT_VERSION: u32 = 7;

/// The manifest's name inside a checkpoint's directory (as Flink names it).
const MANIFEST: &str = "_metadata";

/// Complete checkpoints kept; older ones are removed once a newer one completes.
const KEEP: usize = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// Identifies the plan the states belong to.
    fingerprint: String,
    id: u64,
    /// Taken after every sink ended: only its commits are left to do.
    finished: bool,
    nodes: Vec<NodeEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NodeEntry {
    node: NodeId,
    name: String,
    file: String,
    bytes: u64,
    sha256: String,
}

/// A complete checkpoint as written.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: u64,
    /// Bytes of state files.
    pub bytes: u64,
    pub path: PathBuf,
}

/// A checkpoint read back for a restore.
#[derive(Debug)]
pub struct Restored {
    pub id: u64,
    /// Whether the checkpointed run had finished (only sink commits were left).
    pub finished: bool,
    pub path: PathBuf,
    pub states: HashMap<NodeId, State>,
}

/// Checkpoints of one plan in one directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
    fingerprint: String,
    /// The claim of the run writing the checkpoints, when several may (see
    /// [`CheckpointStore::claim`]).
    owner: Option<String>,
}

/// The file holding the claim of the run that owns a checkpoint directory.
const OWNER: &str = "owner";

/// An exclusive lock on a directory's claim (`flock` of its lock file), held while a claim is
/// replaced, and while a run checks its claim and completes a checkpoint: a takeover lands
/// before the check or after the checkpoint is complete, never between. Released when dropped,
/// and by the kernel when the process dies.
struct ClaimLock {
    _file: File,
}

impl ClaimLock {
    fn take(dir: &Path) -> Result<Self> {
        let path = dir.join(".owner.lock");
        let file = (fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true))
        .open(&path)
        .map_err(|e| io(&path, e))?;
        // SAFETY: flock(2) on a descriptor this function owns; no memory is shared.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
            return Err(io(&path, std::io::Error::last_os_error()));
        }
        Ok(ClaimLock { _file: file })
    }
}

impl CheckpointStore {
    /// The checkpoints in `dir` of the plan `plan` describes (its hash is their fingerprint);
    /// creates `dir` if needed.
    pub fn open(dir: &Path, plan: &str) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        Ok(CheckpointStore {
            dir: dir.to_path_buf(),
            fingerprint: hex(&Sha256::digest(plan.as_bytes())),
            owner: None,
        })
    }

    /// Claims the directory for the run `owner` names: its claim replaces any other's, and
    /// from then on a run whose claim was replaced (a process that lost its task to another
    /// without noticing yet) completes no checkpoint.
    pub fn claim(&mut self, owner: &str) -> Result<()> {
        let path = self.dir.join(OWNER);
        // Claimed already (the store is opened to resume, then to run).
        if fs::read_to_string(&path).is_ok_and(|current| current == owner) {
            self.owner = Some(owner.to_string());
            return Ok(());
        }
        let temporary = self.dir.join(format!(".{OWNER}.{owner}"));
        write_durably(&temporary, owner.as_bytes())?;
        let _lock = ClaimLock::take(&self.dir)?;
        fs::rename(&temporary, &path).map_err(|e| io(&path, e))?;
        sync_dir(&self.dir)?;
        self.owner = Some(owner.to_string());
        Ok(())
    }

    /// Fails when another run claimed the directory after this one.
    fn check_claim(&self) -> Result<()> {
        let Some(owner) = &self.owner else {
            return Ok(());
        };
        let path = self.dir.join(OWNER);
        let current = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        if current != *owner {
            return Err(EngineError::Other(format!(
                "{} was taken over by another run ({current}); this one ({owner}) stops \
                 without completing its checkpoint",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// The directory checkpoints go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes checkpoint `id` of `states` (node, name, state) and makes it complete, then
    /// removes checkpoints older than the last [`KEEP`].
    pub fn write(
        &self,
        id: u64,
        finished: bool,
        states: &[(NodeId, String, State)],
    ) -> Result<Written> {
        let path = self.dir.join(format!("chk-{id}"));
        // A directory left by a crash before its manifest holds nothing of value.
        if path.exists() {
            fs::remove_dir_all(&path).map_err(|e| io(&path, e))?;
        }
        fs::create_dir(&path).map_err(|e| io(&path, e))?;
        let mut nodes = Vec::with_capacity(states.len());
        let mut total = 0;
        for (node, name, state) in states {
            let file = format!("node-{node}.state");
            crate::fault::point("between-state-files");
            let (bytes, sha256) = write_state(&path.join(&file), state)?;
            total += bytes;
            nodes.push(NodeEntry {
                node: *node,
                name: name.clone(),
                file,
                bytes,
                sha256,
            });
        }
        let manifest = Manifest {
            format: FORMAT_VERSION,
            fingerprint: self.fingerprint.clone(),
            id,
            finished,
            nodes,
        };
        let text =
            serde_json::to_vec_pretty(&manifest).map_err(|e| EngineError::Other(e.to_string()))?;
        let temp = path.join(format!("{MANIFEST}.tmp"));
        write_durably(&temp, &text)?;
        let claim_lock = self.owner.as_ref().map(|_| ClaimLock::take(&self.dir));
        let claim_lock = claim_lock.transpose()?;
        self.check_claim()?;
        crate::fault::point("before-manifest-rename");
        fs::rename(&temp, path.join(MANIFEST)).map_err(|e| io(&temp, e))?;
        sync_dir(&path)?;
        sync_dir(&self.dir)?;
        drop(claim_lock);
        crate::fault::point("after-manifest-rename");
        self.remove_old()?;
        Ok(Written {
            id,
            bytes: total,
            path,
        })
    }

    /// The newest complete checkpoint that reads, if any. One that is damaged is passed over
    /// for the one before (with a warning); one of another plan or format is an error.
    pub fn latest(&self) -> Result<Option<Restored>> {
        for (id, path) in self.checkpoints()?.into_iter().rev() {
            if !path.join(MANIFEST).exists() {
                continue;
            }
            match self.read(&path) {
                Ok(restored) => return Ok(Some(restored)),
                Err(Damage::Refused(e)) => return Err(e),
                Err(Damage::Unreadable(reason)) => {
                    tracing::warn!(checkpoint = id, %reason, "passing over a damaged checkpoint");
                    eprintln!(
                        "warning: checkpoint {} is damaged ({reason}); trying the one before",
                        path.display()
                    );
                }
            }
        }
        Ok(None)
    }

    /// The checkpoint at `path` (a `chk-<id>` directory), as `'execution.state-recovery.path'`
    /// names it.
    pub fn at(&self, path: &Path) -> Result<Restored> {
        self.read(path).map_err(|e| match e {
            Damage::Refused(e) => e,
            Damage::Unreadable(reason) => EngineError::Other(format!(
                "checkpoint {} does not read: {reason}",
                path.display()
            )),
        })
    }

    fn read(&self, path: &Path) -> Result<Restored, Damage> {
        let unreadable = |reason: String| Damage::Unreadable(reason);
        let text =
            fs::read(path.join(MANIFEST)).map_err(|e| unreadable(format!("{MANIFEST}: {e}")))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| unreadable(format!("{MANIFEST}: {e}")))?;
        if manifest.format != FORMAT_VERSION {
            return Err(Damage::Refused(EngineError::Other(format!(
                "checkpoint {} was written by another version of rill (format {}, this one \
                 reads {FORMAT_VERSION}); remove the directory to start fresh",
                path.display(),
                manifest.format
            ))));
        }
        if manifest.fingerprint != self.fingerprint {
            return Err(Damage::Refused(EngineError::Other(format!(
                "checkpoint {} is of a different query or tables (the plan's fingerprint \
                 differs), so its state cannot be restored into this one; remove {} or set \
                 another 'execution.checkpointing.dir' to start fresh",
                path.display(),
                self.dir.display()
            ))));
        }
        let mut states = HashMap::new();
        for entry in &manifest.nodes {
            let bytes = map(&path.join(&entry.file))
                .map(crate::mapped::buffer)
                .map_err(|e| unreadable(format!("{}: {e}", entry.file)))?;
            if bytes.len() as u64 != entry.bytes || hex(&Sha256::digest(&bytes)) != entry.sha256 {
                return Err(unreadable(format!(
                    "{} does not match its checksum",
                    entry.file
                )));
            }
            let state =
                State::decode(bytes).map_err(|e| unreadable(format!("{}: {e}", entry.file)))?;
            states.insert(entry.node, state);
        }
        Ok(Restored {
            id: manifest.id,
            finished: manifest.finished,
            path: path.to_path_buf(),
            states,
        })
    }

    /// Whether the newest complete checkpoint in `dir` is of a finished run (any plan's: for
    /// a process watching the tasks of a shared job that others run).
    pub fn finished_in(dir: &Path) -> bool {
        let store = CheckpointStore {
            dir: dir.to_path_buf(),
            fingerprint: String::new(),
            owner: None,
        };
        let Ok(all) = store.checkpoints() else {
            return false;
        };
        let newest = all.iter().rev().find(|(_, p)| p.join(MANIFEST).exists());
        newest
            .and_then(|(_, path)| fs::read(path.join(MANIFEST)).ok())
            .and_then(|text| serde_json::from_slice::<Manifest>(&text).ok())
            .is_some_and(|manifest| manifest.finished)
    }

    /// Every `chk-<id>` directory, oldest first.
    fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| io(&self.dir, e))? {
            let entry = entry.map_err(|e| io(&self.dir, e))?;
            let name = entry.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix("chk-"))
                .and_then(|n| n.parse().ok())
            {
                found.push((id, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Removes every checkpoint older than the last [`KEEP`] complete ones.
    pub(crate) fn remove_old(&self) -> Result<()> {
        let all = self.checkpoints()?;
        let complete: Vec<u64> = all
            .iter()
            .filter(|(_, p)| p.join(MANIFEST).exists())
            .map(|(id, _)| *id)
            .collect();
        let Some(&oldest_kept) = complete.iter().rev().nth(KEEP - 1) else {
            return Ok(());
        };
        for (id, path) in all {
            if id < oldest_kept {
                // The manifest goes first: a removal cut short leaves no checkpoint that
                // looks complete with files missing.
                match fs::remove_file(path.join(MANIFEST)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path, e)),
                    _ => sync_dir(&path)?,
                }
                fs::remove_dir_all(&path).map_err(|e| io(&path, e))?;
            }
        }
        Ok(())
    }
}

/// Why a checkpoint was not read.
enum Damage {
    /// Of another plan or format: restoring an older one would be as wrong.
    Refused(EngineError),
    /// Missing or damaged files: an older checkpoint may do.
    Unreadable(String),
}

/// Writes `state` to `path` as it is encoded (never whole in memory) and makes it durable;
/// returns its length and SHA-256, read back from the file.
fn write_state(path: &Path, state: &State) -> Result<(u64, String)> {
    let mut options = File::options();
    options.read(true).write(true).create(true).truncate(true);
    let file = options.open(path).map_err(|e| io(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    state.encode_to(&mut out).map_err(|e| match e {
        EngineError::Arrow(ArrowError::IoError(_, source)) => io(path, source),
        e => e,
    })?;
    let mut file = out.into_inner().map_err(|e| io(path, e.into_error()))?;
    file.sync_all().map_err(|e| io(path, e))?;
    file.rewind().map_err(|e| io(path, e))?;
    let mut hash = Sha256::new();
    let mut file = BufReader::with_capacity(1 << 20, file);
    let bytes = std::io::copy(&mut file, &mut hash).map_err(|e| io(path, e))?;
    Ok((bytes, hex(&hash.finalize())))
}

/// The bytes of the file at `path`, mapped rather than read: a state file can be as large as
/// the state it restores.
fn map(path: &Path) -> std::io::Result<Mmap> {
    // SAFETY: the files of a checkpoint are not written again once its manifest is in place
    // (a newer checkpoint goes to a directory of its own), so the mapping does not change
    // under the slice; removing an old checkpoint unlinks the file, which leaves a mapping
    // intact.
    unsafe { Mmap::map(&File::open(path)?) }
}

/// Writes `bytes` to `path` and makes them durable.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// Makes the entries of directory `dir` (creations, renames) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

fn io(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u64) -> State {
        let mut s = State::new();
        s.put("n", &n).unwrap();
        s
    }

    #[test]
    fn a_run_whose_claim_was_replaced_completes_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = CheckpointStore::open(dir.path(), "plan").unwrap();
        first.claim("first").unwrap();
        first
            .write(1, false, &[(0, "src".into(), state(1))])
            .unwrap();
        let mut second = CheckpointStore::open(dir.path(), "plan").unwrap();
        second.claim("second").unwrap();
        let refused = first.write(2, false, &[(0, "src".into(), state(2))]);
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("taken over by another run (second)"),
            "the first run stops"
        );
        second
            .write(2, false, &[(0, "src".into(), state(2))])
            .unwrap();
        assert_eq!(second.latest().unwrap().unwrap().id, 2);
    }

    #[test]
    fn a_takeover_lands_before_a_claim_is_checked_or_after_its_checkpoint_completes() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = CheckpointStore::open(dir.path(), "plan").unwrap();
        first.claim("first").unwrap();
        // A takeover in progress: it holds the lock while it replaces the claim.
        let takeover = ClaimLock::take(dir.path()).unwrap();
        let writing =
            std::thread::spawn(move || first.write(1, false, &[(0, "src".into(), state(1))]));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!writing.is_finished(), "the check waits for the takeover");
        fs::write(dir.path().join(OWNER), "second").unwrap();
        drop(takeover);
        let refused = writing.join().unwrap().unwrap_err().to_string();
        assert!(
            refused.contains("taken over by another run (second)"),
            "{refused}"
        );
        let store = CheckpointStore::open(dir.path(), "plan").unwrap();
        assert!(store.latest().unwrap().is_none(), "no checkpoint completed");
    }

    #[test]
    fn the_latest_complete_checkpoint_is_restored_and_two_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path(), "plan").unwrap();
        assert!(store.latest().unwrap().is_none());
        for id in 1..=4 {
            store
                .write(id, false, &[(0, "src".into(), state(id))])
                .unwrap();
        }
        let names: Vec<_> = store
            .checkpoints()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(names, [3, 4]);
        let latest = store.latest().unwrap().unwrap();
        assert_eq!(latest.id, 4);
        assert_eq!(latest.states[&0].get::<u64>("n").unwrap(), 4);

        // A checkpoint without its manifest (a crash while writing it) is passed over.
        fs::create_dir(dir.path().join("chk-5")).unwrap();
        assert_eq!(store.latest().unwrap().unwrap().id, 4);
        // So is a damaged one, for the one before.
        fs::write(dir.path().join("chk-4/node-0.state"), b"RILLST01garbage").unwrap();
        assert_eq!(store.latest().unwrap().unwrap().id, 3);

        // Another plan's checkpoints are refused, with how to start fresh.
        let other = CheckpointStore::open(dir.path(), "another plan").unwrap();
        let message = other.latest().unwrap_err().to_string();
        assert!(message.contains("different query"), "{message}");
        assert!(message.contains("to start fresh"), "{message}");
    }
}
