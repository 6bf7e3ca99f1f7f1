//! Single-object encoding and decoding for any record type with a derived schema.

use apache_avro::{AvroSchema, SpecificSingleObjectReader, SpecificSingleObjectWriter};
use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
#[error("record does not encode as {record}")]
pub struct EncodeError {
    pub record: &'static str,
    #[source]
    pub source: apache_avro::Error,
}

#[derive(Debug, thiserror::Error)]
#[error("record does not decode as {record}")]
pub struct DecodeError {
    pub record: &'static str,
    #[source]
    pub source: apache_avro::Error,
}

pub(crate) fn encode<T: AvroSchema + Serialize>(
    record: &T,
    name: &'static str,
) -> Result<Vec<u8>, EncodeError> {
    let writer = SpecificSingleObjectWriter::<T>::new().map_err(|source| EncodeError {
        record: name,
        source,
    })?;
    let mut out = Vec::new();
    writer
        .write_ref(record, &mut out)
        .map_err(|source| EncodeError {
            record: name,
            source,
        })?;
    Ok(out)
}

pub(crate) fn decode<T: AvroSchema + DeserializeOwned>(
    bytes: &[u8],
    name: &'static str,
) -> Result<T, DecodeError> {
    let reader = SpecificSingleObjectReader::<T>::new().map_err(|source| DecodeError {
        record: name,
        source,
    })?;
    reader.read(&mut &bytes[..]).map_err(|source| DecodeError {
        record: name,
        source,
    })
}

/// Checks a derived schema against its committed `.avsc` file and every archived version.
#[cfg(test)]
pub(crate) fn check_contract<T: AvroSchema>(file: &str) {
    use apache_avro::{Schema, schema_compatibility::SchemaCompatibility};

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let derived = T::get_schema();
    let path = dir.join(format!("{file}.avsc"));
    let pretty = serde_json::to_string_pretty(&derived).expect("schemas serialize to JSON") + "\n";
    if std::env::var_os("CAIRN_BLESS_SCHEMAS").is_some() {
        std::fs::write(&path, &pretty).expect("schema file is writable");
    }
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} exists", path.display()));
    let committed = Schema::parse_str(&committed).expect("committed schema parses");
    assert_eq!(
        committed.canonical_form(),
        derived.canonical_form(),
        "the Rust type of {file} no longer matches schemas/{file}.avsc; if the change is intended and \
         compatible, rerun with CAIRN_BLESS_SCHEMAS=1 and archive the previous version"
    );
    // Every released version stays mutually readable with the current one.
    let archive = dir.join("released");
    let mut checked = 0;
    for entry in std::fs::read_dir(&archive).expect("schemas/released exists") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with(&format!("{file}.v")) {
            continue;
        }
        let old = Schema::parse_str(&std::fs::read_to_string(entry.path()).expect("readable"))
            .expect("released schema parses");
        SchemaCompatibility::can_read(&derived, &old)
            .unwrap_or_else(|e| panic!("readers of {name} cannot read the current {file}: {e}"));
        SchemaCompatibility::can_read(&old, &derived).unwrap_or_else(|e| {
            panic!("the current {file} cannot read records written as {name}: {e}")
        });
        checked += 1;
    }
    assert!(
        checked > 0,
        "schemas/released holds at least one version of {file}"
    );
}
