//! Where a join side's encoded rows live: appended to blocks in memory, and, for a side that
//! may spill, the older blocks written to a temporary file once the blocks in memory pass the
//! side's budget. The file is mapped back, so a spilled row reads as a slice like any other;
//! the kernel's page cache keeps it in memory while there is room, and drops it to disk when
//! there is not (a regular join holds its inputs for ever: Nexmark q7 holds 9.2 M bids, 1 GB,
//! at 10 M events).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use arrow::array::BinaryViewArray;
use arrow::array::builder::make_view;
use arrow::buffer::{Buffer, ScalarBuffer};
use memmap2::MmapOptions;

use crate::{EngineError, Result};

/// A row held in state: where its bytes are in its side's [`Arena`], and what the join notes
/// about it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<M> {
    block: u32,
    offset: u32,
    /// `u32`s, which pack with most notes: state is mostly entries and rows.
    len: u32,
    pub meta: M,
}

/// The largest block an arena makes for rows shorter than it.
pub(super) const BLOCK: usize = 1 << 20;

/// A block of rows: in memory, or written to the arena's file.
enum Block {
    Held(Vec<u8>),
    /// Bytes `start..start + len` of the file's mapped part `part`.
    Spilled {
        part: u32,
        start: usize,
        len: usize,
    },
}

/// The encoded rows of one side, appended to blocks that grow to [`BLOCK`] bytes (a longer
/// row has a block of its own): a row costs no allocation of its own, nor a buffer per key
/// grown as its rows come (most of a join's work when its keys have one or a few rows, as
/// Nexmark q7's bid prices and q20's auctions do).
#[derive(Default)]
pub(super) struct Arena {
    blocks: Vec<Block>,
    /// The memory of its blocks: those in memory, and the spare ones of a spilling arena.
    pub capacity: usize,
    /// Bytes of rows written, and of those no entry refers to any more.
    pub written: usize,
    pub garbage: usize,
    /// With a budget: the blocks written to a file once those in memory pass it.
    spill: Option<Spill>,
}

/// The file an arena's older blocks go to, and how much of the arena memory may hold.
struct Spill {
    /// Bytes of blocks in memory past which the full ones are written to the file.
    budget: usize,
    /// Where the file is made.
    dir: PathBuf,
    /// Created at the first spill: unnamed, so that it goes when the arena does, or the
    /// process (`None` before).
    file: Option<File>,
    /// The file's parts, one per spill, mapped read-only (as buffers, which a checkpoint's
    /// state shares rather than copies).
    parts: Vec<Buffer>,
    /// The file's length.
    size: u64,
    /// Blocks of [`BLOCK`] bytes whose rows are in the file, for rows to come.
    spare: Vec<Vec<u8>>,
    /// The first error writing to the file: rows then stay in memory, and the join reports
    /// it after its batch ([`Arena::failure`]).
    failed: Option<io::Error>,
}

impl Arena {
    /// An arena that writes its full blocks to a temporary file in `dir` once those in
    /// memory take more than `budget` bytes.
    pub fn spilling(budget: usize, dir: PathBuf) -> Arena {
        Arena {
            spill: Some(Spill {
                budget,
                dir,
                file: None,
                parts: Vec::new(),
                size: 0,
                spare: Vec::new(),
                failed: None,
            }),
            ..Arena::default()
        }
    }

    /// An empty arena that spills as this one does.
    pub fn emptied(&self) -> Arena {
        match &self.spill {
            Some(spill) => Arena::spilling(spill.budget, spill.dir.clone()),
            None => Arena::default(),
        }
    }

    /// Writes `row`; its block and offset in it.
    fn push(&mut self, row: &[u8]) -> (u32, u32) {
        let room = match self.blocks.last() {
            Some(Block::Held(data)) => data.capacity() - data.len(),
            _ => 0,
        };
        if room < row.len() || self.blocks.is_empty() {
            // Blocks double from 4 KiB, as a side may hold few rows.
            let last = match self.blocks.last() {
                None => 0,
                Some(Block::Held(data)) => data.capacity(),
                Some(Block::Spilled { .. }) => BLOCK,
            };
            let size = (2 * last).clamp(4096, BLOCK).max(row.len());
            let data = self.new_block(size);
            self.blocks.push(Block::Held(data));
        }
        let block = self.blocks.len() - 1;
        let Some(Block::Held(data)) = self.blocks.last_mut() else {
            unreachable!("the last block is in memory")
        };
        let offset = u32::try_from(data.len()).expect("a block is shorter than 4 GiB");
        data.extend_from_slice(row);
        self.written += row.len();
        (block as u32, offset)
    }

    /// Writes `row`; its entry, with `meta`.
    pub fn entry<M>(&mut self, row: &[u8], meta: M) -> Entry<M> {
        let (block, offset) = self.push(row);
        Entry {
            block,
            offset,
            len: u32::try_from(row.len()).expect("a row's encoding is shorter than 4 GiB"),
            meta,
        }
    }

    /// Writes the row of `entry` (of `from`) to this arena, and points `entry` at it.
    pub fn copy<M>(&mut self, from: &Arena, entry: &mut Entry<M>) {
        (entry.block, entry.offset) = self.push(from.row(entry));
    }

    pub fn row<M>(&self, entry: &Entry<M>) -> &[u8] {
        let block: &[u8] = match &self.blocks[entry.block as usize] {
            Block::Held(data) => data,
            &Block::Spilled { part, start, len } => {
                let spill = self.spill.as_ref().expect("only a spilling arena spills");
                &spill.parts[part as usize][start..start + len]
            }
        };
        let start = entry.offset as usize;
        &block[start..start + entry.len as usize]
    }

    /// The rows of `entries`, in order, for a checkpoint. The blocks written to the file are
    /// shared, not copied (they never change, and the mapping lives as long as a buffer over
    /// it does): a row there is a view into its block, whose bytes include those of rows no
    /// entry refers to any more (at most about as many as the others: the arena is copied
    /// when they are more, see [`Arena::sparse`]). The rows in memory, at most the budget,
    /// are copied, alone.
    pub fn views<'a, M: 'a>(
        &self,
        entries: impl Iterator<Item = &'a Entry<M>>,
    ) -> Result<BinaryViewArray> {
        // One buffer per block in the file, by block; then the rows copied, in buffers that
        // views can point into (offsets are `u32`).
        let mut buffers = Vec::new();
        let mut in_file = vec![None; self.blocks.len()];
        for (block, at) in self.blocks.iter().zip(&mut in_file) {
            if let &Block::Spilled { part, start, len } = block {
                let spill = self.spill.as_ref().expect("only a spilling arena spills");
                *at = Some(buffers.len() as u32);
                buffers.push(spill.parts[part as usize].slice_with_length(start, len));
            }
        }
        let mut copied: Vec<u8> = Vec::new();
        let views = entries
            .map(|entry| {
                let row = self.row(entry);
                match in_file[entry.block as usize] {
                    Some(buffer) => make_view(row, buffer, entry.offset),
                    // Up to 12 bytes are in the view itself.
                    None if row.len() <= 12 => make_view(row, 0, 0),
                    None => {
                        if copied.len() + row.len() > u32::MAX as usize {
                            buffers.push(Buffer::from_vec(std::mem::take(&mut copied)));
                        }
                        let view = make_view(row, buffers.len() as u32, copied.len() as u32);
                        copied.extend_from_slice(row);
                        view
                    }
                }
            })
            .collect::<ScalarBuffer<u128>>();
        if !copied.is_empty() {
            buffers.push(Buffer::from_vec(copied));
        }
        Ok(BinaryViewArray::try_new(views, buffers, None)?)
    }

    /// Notes that an entry's row is no longer referred to.
    pub fn forget<M>(&mut self, entry: &Entry<M>) {
        self.garbage += entry.len as usize;
    }

    /// Whether most bytes written are of rows no entry refers to, so that copying the others
    /// to a new arena is due.
    pub fn sparse(&self) -> bool {
        self.garbage > BLOCK && self.garbage * 2 > self.written
    }

    /// The error that stopped the arena from writing to its file, if one did (taken: it is
    /// reported once).
    pub fn failure(&mut self) -> Option<EngineError> {
        let spill = self.spill.as_mut()?;
        let source = spill.failed.take()?;
        Some(EngineError::Io {
            path: spill.dir.clone(),
            source: io::Error::new(
                source.kind(),
                format!("writing a join's rows to a temporary file: {source}"),
            ),
        })
    }

    /// Bytes of rows written to the file.
    #[cfg(test)]
    pub fn spilled(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.size)
    }

    /// The mapped parts of the file.
    #[cfg(test)]
    pub fn spilled_parts(&self) -> &[Buffer] {
        self.spill.as_ref().map_or(&[], |s| &s.parts)
    }

    /// An empty block of `size` bytes for the rows to come: a new one, or one whose rows went
    /// to the file (its memory is in use already: no page faults again). The blocks in memory,
    /// all full, go to the file first if with a new one they would take more than the budget.
    fn new_block(&mut self, size: usize) -> Vec<u8> {
        if let Some(spill) = &mut self.spill {
            let over = self.capacity + size > spill.budget;
            if over && spill.spare.is_empty() && spill.failed.is_none() {
                match spill.write(&mut self.blocks) {
                    Ok(written) => {
                        for mut data in written {
                            match data.capacity() == BLOCK {
                                true => {
                                    data.clear();
                                    spill.spare.push(data);
                                }
                                false => self.capacity -= data.capacity(),
                            }
                        }
                    }
                    Err(e) => spill.failed = Some(e),
                }
            }
            if size == BLOCK
                && let Some(data) = spill.spare.pop()
            {
                return data;
            }
        }
        self.capacity += size;
        Vec::with_capacity(size)
    }
}

impl Spill {
    /// Writes the blocks in memory among `blocks` to the end of the file, maps what it wrote,
    /// and points the blocks there; the blocks' memory, free to use again.
    fn write(&mut self, blocks: &mut [Block]) -> io::Result<Vec<Vec<u8>>> {
        let held = |b: &Block| match b {
            Block::Held(data) => Some(data.len()),
            Block::Spilled { .. } => None,
        };
        let bytes: usize = blocks.iter().filter_map(held).sum();
        if bytes == 0 {
            return Ok(Vec::new());
        }
        if self.file.is_none() {
            tracing::info!(
                "a join's rows passed the {:.1} MiB it keeps of them in memory: older rows go \
                 to a temporary file in {}",
                self.budget as f64 / (1 << 20) as f64,
                self.dir.display()
            );
            // Once a process: every side of every join spills to the same directory.
            static IN_MEMORY: std::sync::Once = std::sync::Once::new();
            if in_memory(&self.dir) {
                IN_MEMORY.call_once(|| {
                    tracing::warn!(
                        "{} is in memory (tmpfs): a join's rows written there still take \
                         memory; set TMPDIR to a directory on disk",
                        self.dir.display()
                    )
                });
            }
            self.file = Some(tempfile::tempfile_in(&self.dir)?);
        }
        let file = self.file.as_ref().expect("made above");
        let mut at = self.size;
        for block in blocks.iter() {
            if let Block::Held(data) = block {
                file.write_all_at(data, at)?;
                at += data.len() as u64;
            }
        }
        // SAFETY: the file is this arena's own, unnamed, and only appended to: the bytes
        // mapped here are never written again, nor cut off, while the map lives (as long as
        // the buffer over it and its slices).
        let map = unsafe { MmapOptions::new().offset(self.size).len(bytes).map(file)? };
        let map = crate::mapped::buffer(map);
        let part = u32::try_from(self.parts.len()).expect("fewer than 4 G spills");
        let (mut start, mut written) = (0, Vec::new());
        for block in blocks.iter_mut() {
            if let Block::Held(data) = block {
                let len = data.len();
                written.push(std::mem::take(data));
                *block = Block::Spilled { part, start, len };
                start += len;
            }
        }
        self.parts.push(map);
        self.size = at;
        tracing::debug!(
            "a join wrote {bytes} bytes of rows to its temporary file ({} MB in all)",
            self.size >> 20
        );
        Ok(written)
    }
}

/// Whether `dir` is on tmpfs, a file system kept in memory (as `/tmp` is on some systems).
#[cfg(target_os = "linux")]
fn in_memory(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut fs = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `fs` room for what `statfs` writes,
    // which it has written when it returns 0.
    if unsafe { libc::statfs(path.as_ptr(), fs.as_mut_ptr()) } != 0 {
        return false;
    }
    unsafe { fs.assume_init() }.f_type == libc::TMPFS_MAGIC
}

#[cfg(not(target_os = "linux"))]
fn in_memory(_: &Path) -> bool {
    false
}
