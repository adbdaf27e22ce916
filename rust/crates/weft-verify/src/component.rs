//! Reading a WebAssembly component without compiling it.

use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// Largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 256 << 20;

/// What a component declares at its top level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Size of the binary, in bytes.
    pub size: usize,
    /// Its SHA-256, hex: the key of its precompiled artifact.
    pub sha256: String,
    /// Top-level import names, such as `weft:app/ipc@0.1.0`, in binary order.
    pub imports: Vec<String>,
    /// Top-level export names, such as `wasi:cli/run@0.2.6`, in binary order.
    pub exports: Vec<String>,
}

/// Why a binary is not an acceptable component.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// Larger than [`MAX_COMPONENT_BYTES`].
    #[error("the component is {0} bytes; the limit is {MAX_COMPONENT_BYTES}")]
    TooLarge(usize),
    /// A core WebAssembly module: apps must be components (wasm32-wasip2).
    #[error("this is a core WebAssembly module, not a component; build for wasm32-wasip2")]
    CoreModule,
    /// Not WebAssembly at all.
    #[error("this is not WebAssembly (no `\\0asm` header)")]
    NotWasm,
    /// WebAssembly that does not validate.
    #[error("the component does not validate")]
    Invalid(#[source] wasmparser::BinaryReaderError),
}

/// Validates `bytes` as a component and lists its top-level imports and exports.
pub fn read_component(bytes: &[u8]) -> Result<ComponentInfo, ComponentError> {
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(ComponentError::TooLarge(bytes.len()));
    }
    if Parser::is_core_wasm(bytes) {
        return Err(ComponentError::CoreModule);
    }
    if !Parser::is_component(bytes) {
        return Err(ComponentError::NotWasm);
    }
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(bytes)
        .map_err(ComponentError::Invalid)?;

    let mut info = ComponentInfo {
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        ..ComponentInfo::default()
    };
    // Nested modules and components have imports of their own; only the outer
    // component's (depth 1) are what the host must provide.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(ComponentError::Invalid)? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import.map_err(ComponentError::Invalid)?;
                    info.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    let export = export.map_err(ComponentError::Invalid)?;
                    info.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}
