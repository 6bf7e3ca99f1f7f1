//! Offsets committed by consumer groups, kept in `offsets.json` so that a consumer resumes
//! where its group left off after the broker restarts.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};

const FILE: &str = "offsets.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    pub metadata: Option<String>,
}

type Key = (String, String, i32);

#[derive(Debug)]
pub struct Offsets {
    path: PathBuf,
    committed: Mutex<BTreeMap<Key, Committed>>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    group: String,
    topic: String,
    partition: i32,
    offset: i64,
    metadata: Option<String>,
}

impl Offsets {
    pub fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join(FILE);
        let entries: Vec<Entry> = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        let committed = entries
            .into_iter()
            .map(|entry| {
                (
                    (entry.group, entry.topic, entry.partition),
                    Committed {
                        offset: entry.offset,
                        metadata: entry.metadata,
                    },
                )
            })
            .collect();
        Ok(Self {
            path,
            committed: Mutex::new(committed),
        })
    }

    /// Records a group's offsets and writes them all out before answering.
    pub fn commit(
        &self,
        group: &str,
        offsets: impl IntoIterator<Item = (String, i32, Committed)>,
    ) -> io::Result<()> {
        let mut committed = self.lock();
        for (topic, partition, offset) in offsets {
            committed.insert((group.to_owned(), topic, partition), offset);
        }
        let entries: Vec<Entry> = committed
            .iter()
            .map(|((group, topic, partition), committed)| Entry {
                group: group.clone(),
                topic: topic.clone(),
                partition: *partition,
                offset: committed.offset,
                metadata: committed.metadata.clone(),
            })
            .collect();
        let json = serde_json::to_vec(&entries).map_err(io::Error::other)?;
        let temporary = self.path.with_extension("json.new");
        fs::write(&temporary, json)?;
        fs::rename(temporary, &self.path)
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.lock()
            .get(&(group.to_owned(), topic.to_owned(), partition))
            .cloned()
    }

    /// Every offset a group committed, by topic and partition.
    pub fn of_group(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.lock()
            .iter()
            .filter(|((owner, _, _), _)| owner == group)
            .map(|((_, topic, partition), committed)| {
                (topic.clone(), *partition, committed.clone())
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Committed>> {
        self.committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
