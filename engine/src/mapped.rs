//! Files mapped into memory as Arrow buffers: arrays read from them point into the mapping
//! instead of copying it (a checkpoint's state, a join's rows written to its file).

use std::ptr::NonNull;
use std::sync::Arc;

use arrow::buffer::Buffer;
use memmap2::Mmap;

/// A buffer of the bytes of `map`, which it owns: the mapping lives as long as the buffer or
/// a slice of it does.
pub(crate) fn buffer(map: Mmap) -> Buffer {
    let Some(at) = NonNull::new(map.as_ptr().cast_mut()).filter(|_| !map.is_empty()) else {
        return Buffer::from_vec(Vec::<u8>::new());
    };
    let len = map.len();
    // SAFETY: `at` is the start of the `len` bytes of `map`, which the buffer owns; the
    // callers' own notes say why the mapped file does not change under it.
    unsafe { Buffer::from_custom_allocation(at, len, Arc::new(map)) }
}
