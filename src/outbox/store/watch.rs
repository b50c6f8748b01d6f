//! Notices a store file removed or replaced under a running service.
//!
//! SQLite keeps writing to the files it opened: a store file deleted (or
//! replaced by another) while the service runs takes every later commit
//! with it, and the next start finds an empty (or another) store. So the
//! database file and its WAL are identified (device and inode) when the
//! store opens, a thread compares them with what the paths name now once a
//! second, and from the first difference the store refuses new deliveries
//! (`accept` answers [`StoreError::Lost`], so the sender retries later) and
//! fails its health check, while the messages already queued are still
//! sent from the open files. The request path pays one atomic load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::StoreError;

/// How often the thread looks at the files.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies a file whatever its name: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file `path` names now; `None` when there is none.
    #[cfg(unix)]
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    #[cfg(not(unix))]
    fn of(path: &Path) -> Option<FileId> {
        std::fs::metadata(path)
            .ok()
            .map(|_| FileId { dev: 0, ino: 0 })
    }
}

/// A file found removed or replaced.
#[derive(Debug, Clone)]
struct Found {
    path: PathBuf,
    what: &'static str,
}

impl Found {
    fn error(&self) -> StoreError {
        StoreError::Lost {
            path: self.path.clone(),
            what: self.what,
        }
    }
}

struct Shared {
    /// The files as opened.
    files: Vec<(PathBuf, FileId)>,
    /// Set once a file is found gone or replaced; never cleared.
    lost: AtomicBool,
    /// What was found, once `lost` is set.
    found: Mutex<Option<Found>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    /// Compares every file with what its path names now.
    fn look(&self) -> Option<Found> {
        self.files
            .iter()
            .find_map(|(path, opened)| match FileId::of(path) {
                Some(now) if now == *opened => None,
                Some(_) => Some(Found {
                    path: path.clone(),
                    what: "replaced by another file",
                }),
                None => Some(Found {
                    path: path.clone(),
                    what: "removed",
                }),
            })
    }

    /// Records what `look` found, logging it the first time.
    fn record(&self, found: &Found) {
        let mut held = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_none() {
            *held = Some(found.clone());
            self.lost.store(true, Ordering::Relaxed);
            tracing::error!(
                error = %found.error(),
                "the store's files changed under the running service: new deliveries are \
                 refused (503) and /healthz fails until hookbridge is restarted on a store it \
                 opened; queued messages are still sent from the open files"
            );
        }
    }
}

/// The watching thread; stopped and joined when dropped.
pub(super) struct FileWatch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FileWatch {
    /// Identifies the database at `db` and its WAL as they are now, and
    /// looks at them again every `every`.
    pub(super) fn start(db: &Path, every: Duration) -> Result<FileWatch, StoreError> {
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        let files = [db.to_path_buf(), wal]
            .into_iter()
            .filter_map(|p| FileId::of(&p).map(|id| (p, id)))
            .collect();
        let shared = Arc::new(Shared {
            files,
            lost: AtomicBool::new(false),
            found: Mutex::new(None),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("outbox-store-watch".into())
                .spawn(move || run(&shared, every))
                .map_err(|source| StoreError::Thread {
                    name: "file watch",
                    source,
                })?
        };
        Ok(FileWatch {
            shared,
            thread: Some(thread),
        })
    }

    /// What the thread found, if anything: one atomic load while all is well.
    pub(super) fn lost(&self) -> Option<StoreError> {
        if !self.shared.lost.load(Ordering::Relaxed) {
            return None;
        }
        self.shared
            .found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(Found::error)
    }

    /// Looks at the files now (the health check does, so that a probe
    /// does not wait for the thread's next look).
    pub(super) fn check_now(&self) -> Result<(), StoreError> {
        if let Some(e) = self.lost() {
            return Err(e);
        }
        match self.shared.look() {
            Some(found) => {
                self.shared.record(&found);
                Err(found.error())
            }
            None => Ok(()),
        }
    }
}

fn run(shared: &Shared, every: Duration) {
    let mut stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stop {
        (stop, _) = shared
            .wake
            .wait_timeout(stop, every)
            .unwrap_or_else(PoisonError::into_inner);
        if *stop || shared.lost.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(found) = shared.look() {
            shared.record(&found);
        }
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("outbox store file watch thread panicked");
        }
    }
}
