//! The internal encoding of mutable-state sections, as transitions carry them and the state
//! store keeps them: Avro single-object encodings for structured sections (each names its
//! schema by fingerprint), Temporal's protobuf bytes as they are for the large values.

use cairn_engine::{
    sections::{Change, Section, SectionKey, SectionKind},
    state::{ActivityInfo, ChildInfo, ExternalRequest, ResetPoint, TimerInfo},
    update::UpdateInfo,
};

use super::StateChange;
use crate::codec::{Codec, DecodeError, EncodeError};

/// Encodes changes as a transition carries them.
pub fn state_changes(changes: &[Change]) -> Result<Vec<StateChange>, EncodeError> {
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        out.push(encode_change(change)?);
    }
    Ok(out)
}

pub fn encode_change(change: &Change) -> Result<StateChange, EncodeError> {
    let (key, value) = match change {
        Change::Put(section) => (section.key(), Some(encode_section(section)?)),
        Change::Remove(key) => (key.clone(), None),
    };
    let (id, name) = match key {
        SectionKey::Single(_) => (0, String::new()),
        SectionKey::Item(_, id) => (id, String::new()),
        SectionKey::SignalRequest(ref name) => (0, name.clone()),
    };
    Ok(StateChange {
        kind: key.kind(),
        id,
        name,
        value,
    })
}

/// A section's value in the internal encoding.
pub fn encode_section(section: &Section) -> Result<Vec<u8>, EncodeError> {
    Ok(match section {
        Section::Run(fields) => crate::encode_state(fields)?,
        Section::Memo(bytes)
        | Section::SearchAttributes(bytes)
        | Section::BufferedEvent(_, bytes)
        | Section::StartInput(bytes)
        | Section::StartHeader(bytes) => bytes.clone(),
        Section::Updates(updates) => codecs().updates.encode(updates)?,
        Section::ResetPoints(points) => codecs().reset_points.encode(points)?,
        Section::Schedule(schedule) => codecs().schedule.encode(schedule)?,
        Section::Activity(activity) => codecs().activity.encode(activity)?,
        Section::Timer(timer) => codecs().timer.encode(timer)?,
        Section::Child(child) => codecs().child.encode(child)?,
        Section::ExternalRequest(request) => codecs().external.encode(request)?,
        Section::SignalRequest(_) => Vec::new(),
    })
}

/// A section from its kind, its key (`id` or `name`) and its value.
pub fn decode_section(
    kind: SectionKind,
    id: i64,
    name: &str,
    value: &[u8],
) -> Result<Section, DecodeError> {
    let codecs = codecs();
    Ok(match kind {
        SectionKind::Run => Section::Run(Box::new(crate::decode_state(value)?)),
        SectionKind::Memo => Section::Memo(value.to_vec()),
        SectionKind::SearchAttributes => Section::SearchAttributes(value.to_vec()),
        SectionKind::BufferedEvent => Section::BufferedEvent(id, value.to_vec()),
        SectionKind::StartInput => Section::StartInput(value.to_vec()),
        SectionKind::StartHeader => Section::StartHeader(value.to_vec()),
        SectionKind::Updates => Section::Updates(codecs.updates.decode(value)?),
        SectionKind::ResetPoints => Section::ResetPoints(codecs.reset_points.decode(value)?),
        SectionKind::Schedule => Section::Schedule(Box::new(codecs.schedule.decode(value)?)),
        SectionKind::Activity => Section::Activity(Box::new(codecs.activity.decode(value)?)),
        SectionKind::Timer => Section::Timer(codecs.timer.decode(value)?),
        SectionKind::Child => Section::Child(codecs.child.decode(value)?),
        SectionKind::ExternalRequest => Section::ExternalRequest(codecs.external.decode(value)?),
        SectionKind::SignalRequest => Section::SignalRequest(name.to_string()),
    })
}

/// Decodes a transition's changes.
pub fn decode_changes(changes: &[StateChange]) -> Result<Vec<Change>, DecodeError> {
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        out.push(match &change.value {
            Some(value) => {
                Change::Put(decode_section(change.kind, change.id, &change.name, value)?)
            }
            None => Change::Remove(match change.kind {
                SectionKind::Activity
                | SectionKind::BufferedEvent
                | SectionKind::Timer
                | SectionKind::Child
                | SectionKind::ExternalRequest => SectionKey::Item(change.kind, change.id),
                SectionKind::SignalRequest => SectionKey::SignalRequest(change.name.clone()),
                kind => SectionKey::Single(kind),
            }),
        });
    }
    Ok(out)
}

/// A fingerprint of the whole internal state format: every section's schema and the way
/// the state splits into sections. A store or snapshot in another format is rebuilt.
pub(crate) fn state_format() -> [u8; 8] {
    let codecs = codecs();
    let mut described = b"sections/2".to_vec();
    for fingerprint in [
        crate::state_codec().fingerprint(),
        codecs.updates.fingerprint(),
        codecs.reset_points.fingerprint(),
        codecs.schedule.fingerprint(),
        codecs.activity.fingerprint(),
        codecs.timer.fingerprint(),
        codecs.child.fingerprint(),
        codecs.external.fingerprint(),
    ] {
        described.extend_from_slice(&fingerprint);
    }
    xxhash_rust::xxh3::xxh3_64(&described).to_be_bytes()
}

struct Codecs {
    updates: Codec<Vec<UpdateInfo>>,
    reset_points: Codec<Vec<ResetPoint>>,
    schedule: Codec<cairn_engine::schedule::ScheduleState>,
    activity: Codec<ActivityInfo>,
    timer: Codec<TimerInfo>,
    child: Codec<ChildInfo>,
    external: Codec<ExternalRequest>,
}

fn codecs() -> &'static Codecs {
    static CODECS: std::sync::OnceLock<Codecs> = std::sync::OnceLock::new();
    CODECS.get_or_init(|| Codecs {
        updates: Codec::new("Updates", &[]),
        reset_points: Codec::new("ResetPoints", &[]),
        schedule: Codec::new("ScheduleState", &[]),
        activity: Codec::new("ActivityInfo", &[]),
        timer: Codec::new("TimerInfo", &[]),
        child: Codec::new("ChildInfo", &[]),
        external: Codec::new("ExternalRequest", &[]),
    })
}
