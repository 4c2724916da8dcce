//! A state key's bytes (a row encoding of a join key or a partition key), kept inline when
//! short (one or two numbers), so that finding a key compares fixed-size arrays rather than
//! calling memcmp on a heap copy, and adding one allocates nothing. Other short byte strings
//! of state (a Top-1's sort key) are kept the same way.

/// A key's bytes, inline up to [`SHORT_KEY`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Short(u8, [u8; SHORT_KEY]),
    Long(Box<[u8]>),
}

/// The longest key kept inline: a key takes 24 bytes either way.
const SHORT_KEY: usize = 22;

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() > SHORT_KEY {
            return Key::Long(bytes.into());
        }
        let mut inline = [0u8; SHORT_KEY];
        inline[..bytes.len()].copy_from_slice(bytes);
        Key::Short(bytes.len() as u8, inline)
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Key::Short(len, inline) => &inline[..*len as usize],
            Key::Long(bytes) => bytes,
        }
    }

    /// The memory it takes besides its own 24 bytes.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Key::Short(..) => 0,
            Key::Long(bytes) => bytes.len(),
        }
    }
}

/// For inserting under a key that is looked up by reference (`HashMap::entry_ref`).
impl From<&Key> for Key {
    fn from(key: &Key) -> Key {
        key.clone()
    }
}
