//! Whether a component was built for the world WEFT hosts: every import it
//! makes must have the type the host gives it, and it must export
//! `wasi:cli/run`. A component built against another `weft:app` (a different
//! version of the WIT, another toolchain's bindings) is refused before it
//! runs, naming the import, the function and what WEFT provides instead.

use wasmtime::component::{Component, Linker};
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use weft_manifest::Manifest;

use crate::host::State;
use crate::launch::Refusal;
use crate::linking::linker;

/// WEFT's own interfaces as the host implements them: the runtime's bindings
/// are generated from this file.
const WEFT_WIT: &str = include_str!("../../../wit/weft-app.wit");

/// How a component's world differs from the one WEFT hosts.
#[derive(Debug, thiserror::Error)]
pub enum WorldMismatch {
    /// An import has a function (or another item) of another type.
    #[error(
        "the component was built for another world: its import `{import}` has {}{reason}; WEFT provides {}",
        function.as_ref().map_or(String::new(), |name| format!("`{name}` of another type: ")),
        provided(import, function.as_deref())
    )]
    Import {
        /// The import, such as `weft:app/ipc@0.1.0`.
        import: String,
        /// The function (or item) of the import that does not match.
        function: Option<String>,
        /// How it differs, as wasmtime's type check put it.
        reason: String,
    },
    /// The component does not export `wasi:cli/run`, which the host calls.
    #[error("the component was built for another world: it does not export wasi:cli/run ({0})")]
    NoRun(String),
}

/// Checks `component` against what the host links for `manifest`'s grants
/// and returns it ready to instantiate.
pub fn check(
    engine: &wasmtime::Engine,
    component: &Component,
    manifest: &Manifest,
) -> anyhow::Result<CommandPre<State>> {
    check_linked(&linker(engine, manifest)?, component)
}

/// Checks `component` against what `linker` links (the interfaces every app
/// gets and those its manifest grants) and returns it ready to instantiate.
pub(crate) fn check_linked(
    linker: &Linker<State>,
    component: &Component,
) -> anyhow::Result<CommandPre<State>> {
    let instance_pre = linker.instantiate_pre(component).map_err(|error| {
        let causes: Vec<String> = error.chain().map(ToString::to_string).collect();
        Refusal::World(mismatch(&causes))
    })?;
    let command = CommandPre::new(instance_pre)
        .map_err(|error| Refusal::World(WorldMismatch::NoRun(format!("{error:#}"))))?;
    Ok(command)
}

/// Reads wasmtime's explanation (the import, then the item, then how the
/// types differ, one cause each) into a [`WorldMismatch`].
fn mismatch(causes: &[String]) -> WorldMismatch {
    let import = causes.first().and_then(|cause| quoted(cause)).unwrap_or("?").to_owned();
    let function = causes
        .get(1)
        .filter(|cause| cause.starts_with("instance export"))
        .and_then(|cause| quoted(cause))
        .map(str::to_owned);
    let skip = if function.is_some() { 2 } else { 1 };
    let mut reason = causes.iter().skip(skip).cloned().collect::<Vec<_>>().join(": ");
    if reason.is_empty() {
        reason = causes.join(": ");
    }
    WorldMismatch::Import { import, function, reason }
}

/// The first `backquoted` word of `text`.
fn quoted(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once('`')?;
    rest.split_once('`').map(|(word, _)| word)
}

/// What the host declares for `function` of `import`: its line in
/// [`WEFT_WIT`] for WEFT's own interfaces.
fn provided(import: &str, function: Option<&str>) -> String {
    let Some(interface) =
        import.strip_prefix("weft:app/").map(|rest| rest.split('@').next().unwrap_or(rest))
    else {
        return format!("`{import}` as wasmtime-wasi defines it");
    };
    let Some(function) = function else {
        return format!("`weft:app/{interface}` as rust/wit/weft-app.wit declares it");
    };
    declaration(interface, function).map_or_else(
        || format!("no `{function}` in weft:app/{interface}"),
        |line| format!("`{line}`"),
    )
}

/// The declaration of `function` in interface `interface` of [`WEFT_WIT`],
/// without its `;`.
fn declaration(interface: &str, function: &str) -> Option<&'static str> {
    let body = WEFT_WIT.split_once(&format!("interface {interface} {{"))?.1;
    let body = body.split_once("\n}")?.0;
    body.lines()
        .map(str::trim)
        .find(|line| line.starts_with(&format!("{function}: func(")))
        .map(|line| line.trim_end_matches(';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weft_function_is_named_with_its_declaration() {
        assert_eq!(
            declaration("ipc", "send"),
            Some("send: func(message: string) -> result<_, ipc-error>")
        );
        assert_eq!(declaration("notify", "ready"), Some("ready: func()"));
        assert_eq!(declaration("ipc", "telepathy"), None);
        assert_eq!(
            provided("weft:app/ipc@0.1.0", Some("telepathy")),
            "no `telepathy` in weft:app/ipc"
        );
    }

    #[test]
    fn wasmtimes_causes_become_the_import_the_function_and_the_difference() {
        let causes = [
            "component imports instance `weft:app/ipc@0.1.0`, but a matching implementation was not found in the linker",
            "instance export `send` has the wrong type",
            "type mismatch with parameters",
            "expected `string` found `u32`",
        ]
        .map(String::from);
        let message = mismatch(&causes).to_string();
        assert_eq!(
            message,
            "the component was built for another world: its import `weft:app/ipc@0.1.0` has \
             `send` of another type: type mismatch with parameters: expected `string` found \
             `u32`; WEFT provides `send: func(message: string) -> result<_, ipc-error>`"
        );
    }
}
