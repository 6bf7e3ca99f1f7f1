//! Updates that ended without a completion event (rejected, or cut short by the run's
//! close), kept a while so callers waiting for them learn how they ended.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use cairn_engine::{
    RunKey,
    update::{UpdateEnded, UpdateEnding},
};

/// How many ended updates are remembered; the oldest are forgotten first.
const REMEMBERED: usize = 10_000;

type Key = (RunKey, String);

#[derive(Default)]
pub struct UpdateEndings {
    inner: Mutex<Endings>,
}

#[derive(Default)]
struct Endings {
    by_update: HashMap<Key, UpdateEnding>,
    order: VecDeque<Key>,
}

impl UpdateEndings {
    /// Remembers how updates of `run` ended, once the record saying so is durable.
    pub(crate) fn record(&self, run: &RunKey, ended: Vec<UpdateEnded>) {
        let mut endings = self
            .inner
            .lock()
            .expect("update endings lock is not poisoned");
        for update in ended {
            let key = (run.clone(), update.update_id);
            if endings
                .by_update
                .insert(key.clone(), update.ending)
                .is_none()
            {
                endings.order.push_back(key);
            }
            while endings.order.len() > REMEMBERED {
                if let Some(oldest) = endings.order.pop_front() {
                    endings.by_update.remove(&oldest);
                }
            }
        }
    }

    /// How an update ended without a completion event, if it is known to have ended so.
    pub fn ended(&self, run: &RunKey, update_id: &str) -> Option<UpdateEnding> {
        self.inner
            .lock()
            .expect("update endings lock is not poisoned")
            .by_update
            .get(&(run.clone(), update_id.to_string()))
            .cloned()
    }
}
