//! Generates tonic server traits for Temporal's public services from the descriptor set that
//! `temporalio-protos` exports, mapping every message onto that crate's types. No protoc needed.

use std::{env, error::Error, fs};

use prost::Message;
use prost_types::FileDescriptorSet;

const SERVICE_FILES: &[&str] = &[
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/api/operatorservice/v1/service.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not export its descriptor set")?;
    println!("cargo:rerun-if-changed={path}");
    let mut set = FileDescriptorSet::decode(fs::read(&path)?.as_slice())?;
    set.file.retain(|file| SERVICE_FILES.contains(&file.name()));
    if set.file.len() != SERVICE_FILES.len() {
        return Err("service files missing from the temporalio-protos descriptor set".into());
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .generate_default_stubs(true)
        .extern_path(
            ".temporal.api",
            "::temporalio_protos::protos::temporal::api",
        )
        .compile_fds(set)?;
    Ok(())
}
