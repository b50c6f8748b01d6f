//! The outcome journal: where a send's outcome waits when the store cannot
//! record it (a full disk), so that a stop or a crash meanwhile does not
//! post the message again.
//!
//! A message the platform took must not be sent twice; a message whose send
//! may or may not have happened (killed mid-send) must be sent again. So a
//! worker records the outcome of every send in the store, and keeps retrying
//! while the store refuses, never sending the row again meanwhile. Should
//! the process stop before the store takes it, the outcome would be lost
//! with the memory holding it and the row sent again. So the first time the
//! store refuses, the outcome is written here, beside the store
//! (`<store>-outcomes`), and synced; the service applies the journal to the
//! store when it next opens it, before any worker starts, and then empties
//! it. Once the store has recorded an outcome itself, its journal slot is
//! cleared.
//!
//! The file is allocated whole (zeros written, not a sparse file) when the
//! store opens, and records only ever overwrite it in place: on ext4 or XFS
//! such writes need no new disk blocks, so they succeed on a full disk.
//! (On copy-on-write filesystems, btrfs or ZFS, they may not: then the
//! worker keeps trying the store until shutdown's deadline.)
//!
//! Layout: [`SLOTS`] fixed records of [`RECORD`] bytes; a record is
//! `HBO1`, the verdict (1 sent, 2 retry, 3 dead), the row id and retry time
//! (little-endian i64), the error's length and text (cut to fit), and the
//! first 8 bytes of a SHA-256 of all that; a slot that does not check out
//! (zeros, a torn write) is empty.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::{RowId, Verdict};

/// Outcomes the journal holds at once: a lane waits on its one unrecorded
/// outcome, so this many lanes may wait at once.
pub(super) const SLOTS: usize = 1024;
/// Bytes per record.
pub(super) const RECORD: usize = 512;
const MAGIC: &[u8; 4] = b"HBO1";
/// Where the checksum starts; it covers the bytes before it.
const SUM_AT: usize = RECORD - 8;
/// Where the error text starts.
const TEXT_AT: usize = 26;

/// The journal of one store file.
pub(super) struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// The row each slot holds an outcome of.
    slots: Mutex<Vec<Option<RowId>>>,
}

/// Writes `bytes` at `offset` of `file` and syncs them.
fn write_at(file: &Mutex<File>, offset: usize, bytes: &[u8]) -> io::Result<()> {
    let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
    file.seek(SeekFrom::Start(offset as u64))?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// The journal's path for the store at `db`.
pub(super) fn path_for(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-outcomes", db.display()))
}

impl Journal {
    /// Opens (creating and allocating) the journal beside the store at
    /// `db`, and returns it with the outcomes it holds, to apply.
    pub(super) fn open(db: &Path) -> io::Result<(Journal, Vec<(RowId, Verdict)>)> {
        let path = path_for(db);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let size = SLOTS * RECORD;
        let mut found = Vec::new();
        if file.metadata()?.len() != size as u64 {
            // New (or of another size): allocate it whole, with zeros.
            file.set_len(0)?;
            file.write_all(&vec![0u8; size])?;
            file.sync_all()?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
        } else {
            let mut all = vec![0u8; size];
            file.read_exact(&mut all)?;
            found = all.chunks_exact(RECORD).filter_map(decode).collect();
        }
        let journal = Journal {
            path,
            file: Mutex::new(file),
            slots: Mutex::new(vec![None; SLOTS]),
        };
        Ok((journal, found))
    }

    /// Empties every slot, once what they held is in the store.
    pub(super) fn clear(&self) -> io::Result<()> {
        write_at(&self.file, 0, &vec![0u8; SLOTS * RECORD])?;
        self.lock().iter_mut().for_each(|s| *s = None);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<RowId>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes and syncs `verdict` for row `id` (over what it held of the
    /// row before).
    pub(super) fn hold(&self, id: RowId, verdict: &Verdict) -> io::Result<()> {
        let slot = {
            let mut slots = self.lock();
            let slot = slots
                .iter()
                .position(|s| *s == Some(id))
                .or_else(|| slots.iter().position(Option::is_none))
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "the outcome journal {} is full ({SLOTS} outcomes)",
                        self.path.display()
                    ))
                })?;
            slots[slot] = Some(id);
            slot
        };
        let written = write_at(&self.file, slot * RECORD, &encode(id, verdict));
        if written.is_err() {
            self.lock()[slot] = None;
        }
        written
    }

    /// Empties the slot of row `id`, once the store has its outcome.
    pub(super) fn release(&self, id: RowId) -> io::Result<()> {
        let Some(slot) = self.lock().iter().position(|s| *s == Some(id)) else {
            return Ok(());
        };
        write_at(&self.file, slot * RECORD, &[0u8; RECORD])?;
        self.lock()[slot] = None;
        Ok(())
    }
}

fn checksum(bytes: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(bytes);
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&digest[..8]);
    sum
}

fn encode(id: RowId, verdict: &Verdict) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..4].copy_from_slice(MAGIC);
    let (kind, at, error) = match verdict {
        Verdict::Sent => (1, 0, ""),
        Verdict::Retry { at, error } => (2, *at, error.as_str()),
        Verdict::Dead { error } => (3, 0, error.as_str()),
    };
    r[4] = kind;
    r[8..16].copy_from_slice(&id.to_le_bytes());
    r[16..24].copy_from_slice(&at.to_le_bytes());
    // cut on a character boundary
    let mut len = error.len().min(SUM_AT - TEXT_AT);
    while !error.is_char_boundary(len) {
        len -= 1;
    }
    r[24..26].copy_from_slice(&(len as u16).to_le_bytes());
    r[TEXT_AT..TEXT_AT + len].copy_from_slice(&error.as_bytes()[..len]);
    let sum = checksum(&r[..SUM_AT]);
    r[SUM_AT..].copy_from_slice(&sum);
    r
}

fn decode(r: &[u8]) -> Option<(RowId, Verdict)> {
    if &r[..4] != MAGIC || r[SUM_AT..] != checksum(&r[..SUM_AT]) {
        return None;
    }
    let i64_at =
        |i: usize| -> Option<i64> { Some(i64::from_le_bytes(r[i..i + 8].try_into().ok()?)) };
    let id = i64_at(8)?;
    let at = i64_at(16)?;
    let len = usize::from(u16::from_le_bytes([r[24], r[25]])).min(SUM_AT - TEXT_AT);
    let error = String::from_utf8_lossy(&r[TEXT_AT..TEXT_AT + len]).into_owned();
    let verdict = match r[4] {
        1 => Verdict::Sent,
        2 => Verdict::Retry { at, error },
        3 => Verdict::Dead { error },
        _ => return None,
    };
    Some((id, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_survive_a_reopen_and_torn_records_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hb.db");
        let (journal, found) = Journal::open(&db).unwrap();
        assert!(found.is_empty());
        journal.hold(1, &Verdict::Sent).unwrap();
        let long = "é".repeat(400);
        journal
            .hold(
                2,
                &Verdict::Retry {
                    at: 7,
                    error: long.clone(),
                },
            )
            .unwrap();
        journal
            .hold(3, &Verdict::Dead { error: "x".into() })
            .unwrap();
        journal.release(3).unwrap();
        // a later outcome of the same row takes its slot
        journal
            .hold(1, &Verdict::Dead { error: "y".into() })
            .unwrap();
        drop(journal);
        // a torn write in another slot
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path_for(&db))
            .unwrap();
        let mut torn = encode(9, &Verdict::Sent);
        torn[100] ^= 1;
        write_at(&Mutex::new(f), 10 * RECORD, &torn).unwrap();

        let (journal, found) = Journal::open(&db).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(&found[0], (1, Verdict::Dead { error }) if error == "y"));
        match &found[1] {
            (2, Verdict::Retry { at: 7, error }) => {
                assert!(long.starts_with(error.as_str()) && !error.is_empty())
            }
            other => panic!("{other:?}"),
        }
        journal.clear().unwrap();
        drop(journal);
        assert!(Journal::open(&db).unwrap().1.is_empty());
    }
}
