//! The visibility index of each partition: a row per run, its index entries and the count
//! of runs per namespace, division and status, all written in the batch that changes the
//! state they describe. List, Count and retention read them; none reads the mutable state.
//!
//! ```text
//! row:    p | 4 | ns | wf | run    -> Row (protobuf)
//! entry:  p | 5 | entry            -> nothing (see cairn_visibility::keys)
//! count:  p | 6 | ns | div | st    -> i64 BE
//! ```

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

use cairn_engine::{
    PartitionId, RunKey,
    sections::{Section, SectionKind},
};
use cairn_query::{Field, Query};
use cairn_schemas::Transition;
use cairn_visibility::{
    CountRequest, Counts, Page, PageRequest, Row,
    keys::{self as index, Division},
    page::is_after,
    plan,
};
use prost::Message;
use rocksdb::{DB, DBRawIteratorWithThreadMode, SnapshotWithThreadMode, WriteBatch};

use crate::{StateDb, StateError, keys, read_count};

/// The rows a batch of transitions leaves, and the counts it moves.
#[derive(Default)]
pub(crate) struct Staged {
    rows: HashMap<RunKey, Option<Row>>,
    counts: HashMap<Vec<u8>, i64>,
}

impl Staged {
    /// A run's `notify_parent` as the batch left it, when the batch changed its row.
    pub(crate) fn notify_parent(&self, run: &RunKey) -> Option<bool> {
        match self.rows.get(run) {
            Some(Some(row)) => Some(row.notify_parent),
            _ => None,
        }
    }

    /// Whether a run the batch staged is open after it.
    pub(crate) fn is_open(&self, run: &RunKey) -> bool {
        matches!(self.rows.get(run), Some(Some(row)) if row.is_open())
    }
}

impl StateDb {
    /// Adds to `batch` what the transition changes in the partition's visibility.
    pub(crate) fn stage_visibility(
        &self,
        batch: &mut WriteBatch,
        staged: &mut Staged,
        partition: PartitionId,
        transition: &Transition,
        sections: &[Option<Section>],
    ) -> Result<(), StateError> {
        let run = &transition.run;
        let before = match staged.rows.get(run) {
            Some(row) => row.clone(),
            None => self.row(partition, run)?,
        };
        let removed = transition.deleted
            || transition
                .changes
                .iter()
                .any(|c| c.kind == SectionKind::Run && c.value.is_none());
        let after = if removed {
            None
        } else {
            let mut row = before.clone().unwrap_or_default();
            for (change, section) in transition.changes.iter().zip(sections) {
                match (section, change.kind) {
                    (
                        Some(section),
                        SectionKind::Run
                        | SectionKind::Memo
                        | SectionKind::SearchAttributes
                        | SectionKind::Schedule,
                    ) => {
                        row.apply(section);
                    }
                    (None, kind) if change.value.is_none() => {
                        row.remove(kind);
                    }
                    _ => {}
                }
            }
            // A run is visible from the transition that holds its own fields.
            (!row.run_id.is_empty()).then_some(row)
        };
        if before == after {
            staged.rows.insert(run.clone(), after);
            return Ok(());
        }
        let entries_moved = match (&before, &after) {
            (Some(before), Some(after)) => !index::same_entries(before, after),
            _ => true,
        };
        if entries_moved {
            let old_entries = before.as_ref().map(index::entries).unwrap_or_default();
            let new_entries = after.as_ref().map(index::entries).unwrap_or_default();
            for entry in old_entries.iter().filter(|e| !new_entries.contains(e)) {
                batch.delete(keys::index_entry(partition, entry));
            }
            for entry in new_entries.iter().filter(|e| !old_entries.contains(e)) {
                batch.put(keys::index_entry(partition, entry), []);
            }
        }
        let count_of = |row: &Row| {
            index::count_key(
                &row.namespace_id,
                Division::of(row),
                index::status_byte(row.status),
            )
        };
        if let Some(row) = &before {
            *staged.counts.entry(count_of(row)).or_default() -= 1;
        }
        if let Some(row) = &after {
            *staged.counts.entry(count_of(row)).or_default() += 1;
        }
        match &after {
            Some(row) => batch.put(keys::row(partition, run), row.encode_to_vec()),
            None => batch.delete(keys::row(partition, run)),
        }
        staged.rows.insert(run.clone(), after);
        Ok(())
    }

    /// Adds the counts a batch moved to it.
    pub(crate) fn stage_counts(
        &self,
        batch: &mut WriteBatch,
        staged: Staged,
        partition: PartitionId,
    ) -> Result<(), StateError> {
        for (key, delta) in staged.counts {
            self.stage_count(batch, keys::count(partition, &key), delta)?;
        }
        Ok(())
    }

    /// A run's visibility row.
    pub fn row(&self, partition: PartitionId, run: &RunKey) -> Result<Option<Row>, StateError> {
        self.db
            .get(keys::row(partition, run))?
            .map(|bytes| decode_row(&bytes))
            .transpose()
    }

    /// The partition's part of a listing page: the first `limit` rows after the cursor that
    /// the query matches, in the listing's order.
    pub fn visibility_page(
        &self,
        partition: PartitionId,
        request: &PageRequest,
    ) -> Result<Page, StateError> {
        let plan = plan::plan(&request.namespace_id, &request.query, &request.divisions);
        let snapshot = self.db.snapshot();
        let reader = Reader {
            snapshot: &snapshot,
            partition,
            namespace_id: &request.namespace_id,
        };
        let query = &request.query;
        let accepts = |row: &Row| {
            query.matches(row)
                && request
                    .after
                    .as_ref()
                    .is_none_or(|cursor| is_after(query, row, cursor))
        };
        if query.order_by.is_empty() {
            // Every prefix lists its runs in the listing's order: merge them and stop at the
            // limit.
            let start = request.after.as_ref().map(|c| c.order_key.as_slice());
            let mut scans: Vec<Scan<'_>> = plan
                .prefixes
                .iter()
                .map(|prefix| Scan::new(&snapshot, partition, &prefix.bytes, start))
                .collect();
            let mut heads = BinaryHeap::new();
            for (i, scan) in scans.iter_mut().enumerate() {
                if let Some(order) = scan.next()? {
                    heads.push(Reverse((order, i)));
                }
            }
            let mut page = Page::default();
            let mut last: Option<Vec<u8>> = None;
            while let Some(Reverse((order, i))) = heads.pop() {
                if let Some(next) = scans[i].next()? {
                    heads.push(Reverse((next, i)));
                }
                // A run under two prefixes (a custom list attribute's items) shows once.
                if last.as_ref() == Some(&order) {
                    continue;
                }
                if let Some(row) = reader.row_at(&order)?
                    && accepts(&row)
                {
                    if page.rows.len() == request.limit {
                        page.more = true;
                        break;
                    }
                    page.rows.push(row);
                }
                last = Some(order);
            }
            return Ok(page);
        }
        // `ORDER BY`: every match is read, and the first `limit` kept.
        let mut rows: Vec<Row> = Vec::new();
        let mut more = false;
        let sort = |rows: &mut Vec<Row>| {
            rows.sort_by(|a, b| cairn_visibility::page::compare(query, a, b));
            rows.dedup_by(|a, b| a.run_id == b.run_id && a.workflow_id == b.workflow_id);
        };
        for prefix in &plan.prefixes {
            let mut scan = Scan::new(&snapshot, partition, &prefix.bytes, None);
            while let Some(order) = scan.next()? {
                if let Some(row) = reader.row_at(&order)?
                    && accepts(&row)
                {
                    rows.push(row);
                    if rows.len() >= 2 * request.limit.max(64) {
                        sort(&mut rows);
                        more |= rows.len() > request.limit;
                        rows.truncate(request.limit);
                    }
                }
            }
        }
        sort(&mut rows);
        more |= rows.len() > request.limit;
        rows.truncate(request.limit);
        Ok(Page { rows, more })
    }

    /// How many runs of the partition a query matches, in all and by status. The counts
    /// kept per status answer a filter on the status alone; a filter the index holds exactly
    /// counts entries; any other reads the rows the plan names.
    pub fn visibility_count(
        &self,
        partition: PartitionId,
        request: &CountRequest,
    ) -> Result<Counts, StateError> {
        let plan = plan::plan(&request.namespace_id, &request.query, &request.divisions);
        let mut counts = Counts::default();
        if plan.exact && status_only(&request.query) {
            for prefix in &plan.prefixes {
                let Some(status) = prefix.status else {
                    continue;
                };
                for &division in &request.divisions {
                    let key = keys::count(
                        partition,
                        &index::count_key(&request.namespace_id, division, status),
                    );
                    let count = self.db.get(key)?.as_deref().map_or(0, read_count);
                    counts.add(i32::from(status), count);
                }
            }
            return Ok(counts);
        }
        let snapshot = self.db.snapshot();
        let reader = Reader {
            snapshot: &snapshot,
            partition,
            namespace_id: &request.namespace_id,
        };
        let mut seen = std::collections::HashSet::new();
        for prefix in &plan.prefixes {
            let mut scan = Scan::new(&snapshot, partition, &prefix.bytes, None);
            while let Some(order) = scan.next()? {
                match (plan.exact, prefix.status) {
                    (true, Some(status)) => counts.add(i32::from(status), 1),
                    _ => {
                        if !seen.insert(order.clone()) {
                            continue;
                        }
                        if let Some(row) = reader.row_at(&order)?
                            && request.query.matches(&row)
                        {
                            counts.add(row.status, 1);
                        }
                    }
                }
            }
        }
        Ok(counts)
    }

    /// Closed runs of the partition whose close time is at or before `cutoff(namespace)`, at
    /// most `limit`, oldest first within each namespace and status.
    pub fn closed_before(
        &self,
        partition: PartitionId,
        cutoff: &dyn Fn(&str) -> Option<i64>,
        limit: usize,
    ) -> Result<Vec<RunKey>, StateError> {
        let snapshot = self.db.snapshot();
        let mut found = Vec::new();
        for (namespace_id, division, status) in self.counted(&snapshot, partition)? {
            if status == index::status_byte(cairn_engine::ExecutionStatus::Running.to_proto()) {
                continue;
            }
            let Some(cutoff) = cutoff(&namespace_id) else {
                continue;
            };
            let mut prefix = index::kind_prefix(&namespace_id, division, index::Kind::Status);
            prefix.push(status);
            // Entries run from the newest close to the oldest: start at the cutoff.
            let start = index::descending(cutoff);
            let mut scan = Scan::new(&snapshot, partition, &prefix, Some(&start));
            while let Some(order) = scan.next()? {
                if found.len() == limit {
                    return Ok(found);
                }
                found.push(run_at(&namespace_id, &order)?);
            }
        }
        Ok(found)
    }

    /// Every (namespace, division, status) the partition counts runs in.
    fn counted(
        &self,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        partition: PartitionId,
    ) -> Result<Vec<(String, Division, u8)>, StateError> {
        let prefix = keys::table_prefix(partition, keys::Table::Count);
        let mut out = Vec::new();
        let mut iter = snapshot.raw_iterator();
        iter.seek(&prefix);
        while let Some(key) = iter.key() {
            if !key.starts_with(&prefix) {
                break;
            }
            if let Some((ns, division, status)) = index::parse_count_key(&key[prefix.len()..]) {
                let division = if division == Division::Schedulers as u8 {
                    Division::Schedulers
                } else {
                    Division::Workflows
                };
                out.push((ns.to_string(), division, status));
            }
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }
}

/// Whether a filter names the status and nothing else.
fn status_only(query: &Query) -> bool {
    query.filter.as_ref().is_none_or(|f| {
        f.fields()
            .iter()
            .all(|field| *field == Field::ExecutionStatus)
    })
}

/// The run of a namespace an index entry's order key names.
fn run_at(namespace_id: &str, order: &[u8]) -> Result<RunKey, StateError> {
    let (workflow_id, run_id) = index::run_of_order_key(order).ok_or(StateError::Malformed {
        table: "visibility",
    })?;
    Ok(RunKey {
        namespace_id: namespace_id.to_string(),
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    })
}

fn decode_row(bytes: &[u8]) -> Result<Row, StateError> {
    Row::decode(bytes).map_err(|_| StateError::Malformed {
        table: "visibility",
    })
}

/// Reads rows from one consistent snapshot.
struct Reader<'a> {
    snapshot: &'a SnapshotWithThreadMode<'a, DB>,
    partition: PartitionId,
    namespace_id: &'a str,
}

impl Reader<'_> {
    /// The row an order key names.
    fn row_at(&self, order: &[u8]) -> Result<Option<Row>, StateError> {
        let run = run_at(self.namespace_id, order)?;
        self.snapshot
            .get(keys::row(self.partition, &run))?
            .map(|bytes| decode_row(&bytes))
            .transpose()
    }
}

/// The order keys under one prefix of the index, from a start (exclusive of an equal key).
struct Scan<'a> {
    iter: DBRawIteratorWithThreadMode<'a, DB>,
    prefix: Vec<u8>,
    skip: Option<Vec<u8>>,
}

impl<'a> Scan<'a> {
    fn new(
        snapshot: &'a SnapshotWithThreadMode<'a, DB>,
        partition: PartitionId,
        prefix: &[u8],
        start: Option<&[u8]>,
    ) -> Self {
        let prefix = keys::index_entry(partition, prefix);
        let mut iter = snapshot.raw_iterator();
        let mut from = prefix.clone();
        if let Some(start) = start {
            from.extend_from_slice(start);
        }
        iter.seek(&from);
        Self {
            iter,
            skip: start.map(|_| from),
            prefix,
        }
    }

    /// The next order key under the prefix; `None` past its last, an error when the store
    /// could not be read.
    fn next(&mut self) -> Result<Option<Vec<u8>>, StateError> {
        loop {
            let Some(key) = self.iter.key() else {
                self.iter.status()?;
                return Ok(None);
            };
            if !key.starts_with(&self.prefix) {
                return Ok(None);
            }
            let order = key[self.prefix.len()..].to_vec();
            let skip = self.skip.take().is_some_and(|skip| skip == key);
            self.iter.next();
            if !skip {
                return Ok(Some(order));
            }
        }
    }
}

#[cfg(test)]
mod tests;
