//! The two firmware slots (A and B): one runs, the other receives the update.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A slot name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// `a` or `b`, as the device reports it at check-in.
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

/// Storage for the two slots' images.
pub trait Slots {
    /// Empties `slot` (before a new image is written to it).
    fn clear(&mut self, slot: Slot) -> io::Result<()>;
    /// Writes `data` at `offset` of `slot`, durably.
    fn write_at(&mut self, slot: Slot, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Reads `len` bytes at `offset` of `slot`.
    fn read_at(&self, slot: Slot, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// The slot's image size.
    fn len(&self, slot: Slot) -> io::Result<u64>;
}

/// Slots as files `slot-a` and `slot-b` in a directory: what a real device's
/// partitions look like to the agent.
pub struct FileSlots {
    dir: PathBuf,
}

impl FileSlots {
    pub fn new(dir: &Path) -> FileSlots {
        FileSlots {
            dir: dir.to_owned(),
        }
    }

    /// The file backing `slot`.
    pub fn path(&self, slot: Slot) -> PathBuf {
        self.dir.join(match slot {
            Slot::A => "slot-a",
            Slot::B => "slot-b",
        })
    }

    fn open(&self, slot: Slot) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path(slot))
    }
}

impl Slots for FileSlots {
    fn clear(&mut self, slot: Slot) -> io::Result<()> {
        let file = self.open(slot)?;
        file.set_len(0)?;
        file.sync_all()
    }

    fn write_at(&mut self, slot: Slot, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = self.open(slot)?;
        file.write_all_at(data, offset)?;
        file.sync_data()
    }

    fn read_at(&self, slot: Slot, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let file = self.open(slot)?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn len(&self, slot: Slot) -> io::Result<u64> {
        Ok(self.open(slot)?.metadata()?.len())
    }
}

/// Slots in memory, for simulated devices.
#[derive(Default, Clone)]
pub struct MemorySlots {
    a: Vec<u8>,
    b: Vec<u8>,
}

impl MemorySlots {
    fn get(&self, slot: Slot) -> &Vec<u8> {
        match slot {
            Slot::A => &self.a,
            Slot::B => &self.b,
        }
    }

    fn get_mut(&mut self, slot: Slot) -> &mut Vec<u8> {
        match slot {
            Slot::A => &mut self.a,
            Slot::B => &mut self.b,
        }
    }
}

impl Slots for MemorySlots {
    fn clear(&mut self, slot: Slot) -> io::Result<()> {
        self.get_mut(slot).clear();
        Ok(())
    }

    fn write_at(&mut self, slot: Slot, offset: u64, data: &[u8]) -> io::Result<()> {
        let image = self.get_mut(slot);
        let end = offset as usize + data.len();
        if image.len() < end {
            image.resize(end, 0);
        }
        image[offset as usize..end].copy_from_slice(data);
        Ok(())
    }

    fn read_at(&self, slot: Slot, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let image = self.get(slot);
        let start = offset as usize;
        image
            .get(start..start + len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the slot",
                )
            })
    }

    fn len(&self, slot: Slot) -> io::Result<u64> {
        Ok(self.get(slot).len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(slots: &mut dyn Slots) {
        slots.clear(Slot::B).unwrap();
        slots.write_at(Slot::B, 4, b"5678").unwrap();
        slots.write_at(Slot::B, 0, b"1234").unwrap();
        assert_eq!(slots.read_at(Slot::B, 0, 8).unwrap(), b"12345678");
        assert_eq!(slots.len(Slot::B).unwrap(), 8);
        assert!(slots.read_at(Slot::B, 6, 4).is_err());
        slots.clear(Slot::B).unwrap();
        assert_eq!(slots.len(Slot::B).unwrap(), 0);
    }

    #[test]
    fn file_and_memory_slots_behave_alike() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&mut FileSlots::new(dir.path()));
        exercise(&mut MemorySlots::default());
    }
}
