//! Single-object encoding and decoding for any record type with a derived schema.

use apache_avro::{
    AvroSchema, Schema, SpecificSingleObjectReader, SpecificSingleObjectWriter, rabin::Rabin,
};
use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
#[error("record does not encode as {record}")]
pub struct EncodeError {
    pub record: &'static str,
    #[source]
    pub source: apache_avro::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record does not decode as {record}")]
    Avro {
        record: &'static str,
        #[source]
        source: apache_avro::Error,
    },
    #[error("record is not in Avro single-object encoding")]
    NotSingleObject,
    #[error("record was written with a schema of {record} that this version does not know")]
    UnknownSchema { record: &'static str },
}

/// Encodes and decodes one record type. Records are written with the current schema and
/// read with the schema they were written with, found by the fingerprint in their header
/// among the current and every released version, then resolved to the current type (new
/// fields take their defaults). So a newer Cairn reads what an older one wrote.
pub(crate) struct Codec<T: AvroSchema> {
    name: &'static str,
    writer: SpecificSingleObjectWriter<T>,
    reader: SpecificSingleObjectReader<T>,
    current: Schema,
    fingerprint: Vec<u8>,
    released: Vec<(Vec<u8>, Schema)>,
}

/// Marker and fingerprint length of the single-object header.
const HEADER: usize = 10;

impl<T: AvroSchema + Serialize + DeserializeOwned> Codec<T> {
    /// `released` holds the `.avsc` text of every released version of the record.
    pub(crate) fn new(name: &'static str, released: &[&str]) -> Self {
        let current = T::get_schema();
        let released = released
            .iter()
            .map(|text| {
                let schema = Schema::parse_str(text).expect("released schemas are valid Avro");
                (schema.fingerprint::<Rabin>().bytes, schema)
            })
            .collect();
        Self {
            name,
            writer: SpecificSingleObjectWriter::new().expect("derived schemas are valid Avro"),
            reader: SpecificSingleObjectReader::new().expect("derived schemas are valid Avro"),
            fingerprint: current.fingerprint::<Rabin>().bytes,
            current,
            released,
        }
    }

    /// The current schema's Rabin fingerprint, as single-object headers carry it.
    pub(crate) fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
            .as_slice()
            .try_into()
            .expect("Rabin fingerprints have 8 bytes")
    }

    pub(crate) fn encode(&self, record: &T) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.writer
            .write_ref(record, &mut out)
            .map_err(|source| EncodeError {
                record: self.name,
                source,
            })?;
        Ok(out)
    }

    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        if bytes.len() < HEADER || bytes[..2] != [0xC3, 0x01] {
            return Err(DecodeError::NotSingleObject);
        }
        let avro = |source| DecodeError::Avro {
            record: self.name,
            source,
        };
        let fingerprint = &bytes[2..HEADER];
        if fingerprint == self.fingerprint.as_slice() {
            return self.reader.read(&mut &bytes[..]).map_err(avro);
        }
        let Some((_, writer)) = self
            .released
            .iter()
            .find(|(f, _)| f.as_slice() == fingerprint)
        else {
            return Err(DecodeError::UnknownSchema { record: self.name });
        };
        let value = apache_avro::reader::datum::GenericDatumReader::builder(writer)
            .reader_schema(&self.current)
            .build()
            .and_then(|reader| reader.read_value(&mut &bytes[HEADER..]))
            .map_err(avro)?;
        apache_avro::from_value(&value).map_err(avro)
    }
}

/// Checks a derived schema against its committed `.avsc` file and every archived version.
#[cfg(test)]
pub(crate) fn check_contract<T: AvroSchema>(file: &str, registered: usize) {
    check_contract_from::<T>(file, 1, registered);
}

/// [`check_contract`] for a record whose current format began at version `first`: versions
/// before it are read by a decoder of their own.
#[cfg(test)]
pub(crate) fn check_contract_from<T: AvroSchema>(file: &str, first: usize, registered: usize) {
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
        let Some(version) = name
            .strip_prefix(&format!("{file}.v"))
            .and_then(|rest| rest.strip_suffix(".avsc"))
            .and_then(|number| number.parse::<usize>().ok())
        else {
            continue;
        };
        if version < first {
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
    assert_eq!(
        checked, registered,
        "every released version of {file} is registered with its codec, so its records stay readable"
    );
}
