//! The broker's topics: their partitions, IDs and configuration, kept in `topics.json` next
//! to the partitions' directories so that a restarted broker finds them again.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::partition::Partition;

/// Kafka's default `max.message.bytes`: the largest record batch a topic takes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
/// Kafka's longest topic name.
const MAX_NAME_LENGTH: usize = 249;
const CATALOGUE: &str = "topics.json";

/// Settings a topic reports that the embedded broker fixes: it keeps everything, once.
const FIXED_CONFIGS: [(&str, &str); 5] = [
    ("cleanup.policy", "delete"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("min.insync.replicas", "1"),
    ("message.timestamp.type", "CreateTime"),
];

#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Partition>,
    configs: BTreeMap<String, String>,
    max_message_bytes: usize,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Partition> {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.partitions.get(index))
    }

    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).expect("partition counts fit in an i32")
    }

    /// The largest record batch the topic takes.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Every setting the topic reports, with whether it was set for this topic.
    pub fn configs(&self) -> Vec<(String, String, bool)> {
        let mut configs: BTreeMap<String, (String, bool)> = FIXED_CONFIGS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), ((*value).to_owned(), false)))
            .collect();
        configs.insert(
            "max.message.bytes".to_owned(),
            (DEFAULT_MAX_MESSAGE_BYTES.to_string(), false),
        );
        for (name, value) in &self.configs {
            configs.insert(name.clone(), (value.clone(), true));
        }
        configs
            .into_iter()
            .map(|(name, (value, set))| (name, value, set))
            .collect()
    }
}

/// Why a topic was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("topic {0} already exists")]
    Exists(String),
    #[error(
        "topic name {0:?} is not valid: use 1 to 249 of the characters a-z, A-Z, 0-9, '.', '_' and '-'"
    )]
    InvalidName(String),
    #[error("a topic needs at least one partition, not {0}")]
    InvalidPartitions(i32),
    #[error("the embedded broker has one node; replication factor {0} cannot be met")]
    InvalidReplication(i16),
    #[error("config {name}={value:?} is not valid: {reason}")]
    InvalidConfig {
        name: String,
        value: String,
        reason: &'static str,
    },
    #[error("writing the topic's files: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Topics {
    dir: PathBuf,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
}

impl Topics {
    /// Opens the topics kept in `dir`, reading every partition's log back.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let entries: Vec<Entry> = match fs::read(dir.join(CATALOGUE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut topics = BTreeMap::new();
        for entry in entries {
            let topic = open_topic(dir, entry)?;
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        Ok(Self {
            dir: dir.to_owned(),
            topics: RwLock::new(topics),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.read().values().cloned().collect()
    }

    /// Creates a topic, or checks that it could be when `validate_only`.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Option<Arc<Topic>>, CreateError> {
        validate_name(name)?;
        if partitions < 1 {
            return Err(CreateError::InvalidPartitions(partitions));
        }
        if replication > 1 {
            return Err(CreateError::InvalidReplication(replication));
        }
        for (key, value) in &configs {
            validate_config(key, value)?;
        }
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if topics.contains_key(name) {
            return Err(CreateError::Exists(name.to_owned()));
        }
        if validate_only {
            return Ok(None);
        }
        let entry = Entry {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        let topic = Arc::new(open_topic(&self.dir, entry)?);
        topics.insert(name.to_owned(), Arc::clone(&topic));
        self.save(&topics)?;
        Ok(Some(topic))
    }

    /// Deletes a topic and its records; `false` when there is no such topic.
    pub fn delete(&self, name: &str) -> io::Result<bool> {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let Some(topic) = topics.remove(name) else {
            return Ok(false);
        };
        self.save(&topics)?;
        for index in 0..topic.partition_count() {
            fs::remove_dir_all(partition_dir(&self.dir, name, index))?;
        }
        Ok(true)
    }

    fn save(&self, topics: &BTreeMap<String, Arc<Topic>>) -> io::Result<()> {
        let entries: Vec<Entry> = topics
            .values()
            .map(|topic| Entry {
                name: topic.name.clone(),
                id: topic.id,
                partitions: topic.partition_count(),
                configs: topic.configs.clone(),
            })
            .collect();
        let json = serde_json::to_vec_pretty(&entries).map_err(io::Error::other)?;
        let temporary = self.dir.join(format!("{CATALOGUE}.new"));
        fs::write(&temporary, json)?;
        fs::rename(temporary, self.dir.join(CATALOGUE))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn open_topic(dir: &Path, entry: Entry) -> io::Result<Topic> {
    let partitions = (0..entry.partitions)
        .map(|index| Partition::open(&partition_dir(dir, &entry.name, index)))
        .collect::<io::Result<Vec<_>>>()?;
    let max_message_bytes = entry
        .configs
        .get("max.message.bytes")
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    Ok(Topic {
        name: entry.name,
        id: entry.id,
        partitions,
        configs: entry.configs,
        max_message_bytes,
    })
}

fn partition_dir(dir: &Path, topic: &str, index: i32) -> PathBuf {
    dir.join(format!("{topic}-{index}"))
}

fn validate_name(name: &str) -> Result<(), CreateError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(CreateError::InvalidName(name.to_owned()))
    }
}

/// Checks the settings the broker acts on; it keeps everything, so it refuses settings that
/// promise otherwise rather than silently ignoring them.
fn validate_config(name: &str, value: &str) -> Result<(), CreateError> {
    let invalid = |reason| CreateError::InvalidConfig {
        name: name.to_owned(),
        value: value.to_owned(),
        reason,
    };
    match name {
        "max.message.bytes" => match value.parse::<usize>() {
            Ok(bytes) if bytes >= crate::batch::HEADER_BYTES => Ok(()),
            _ => Err(invalid("a number of bytes larger than a batch header")),
        },
        // Compaction allows dropping a key's older records and promises nothing about when:
        // keeping them all is a compaction that has not run yet.
        "cleanup.policy" if value != "delete" && value != "compact" => Err(invalid(
            "the embedded broker keeps every record; `delete` (with nothing deleted) and \
             `compact` (with nothing compacted) are supported",
        )),
        "min.insync.replicas" if value != "1" => {
            Err(invalid("the embedded broker has one replica"))
        }
        _ => Ok(()),
    }
}
