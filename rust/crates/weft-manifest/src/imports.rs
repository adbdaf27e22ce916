//! Which component imports an app may have, and which capability each needs.
//!
//! The runtime links an import only when [`import_requirement`] allows it for the
//! app's capabilities; `weft-pack` runs the same check when it inspects a package,
//! so a package that would be refused at launch is refused at build time too.

use crate::capability::CapabilityKind;

/// What a component import needs before the runtime may link it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportRequirement {
    /// Every app may import this: core WASI (clocks, random, stdio, exit, an empty
    /// filesystem view, inert sockets) and `weft:app/notify`, `weft:app/ipc`.
    Always,
    /// Linked only when the manifest grants a capability of this kind.
    Capability(CapabilityKind),
    /// Never linked for any app; the text says why.
    Never(&'static str),
}

/// The interfaces every app may import. Filesystem interfaces are safe to link for
/// everyone: without an `fs:` capability the app gets no preopened directory, so
/// they reach nothing. `wasi:sockets` is linked *inert*: the runtime allows no TCP,
/// no UDP, no name lookup and no address, so every socket call fails with
/// access-denied. (wasi-libc for wasm32-wasip2 imports it in every program that
/// uses files, so refusing the import would refuse ordinary apps.)
const ALWAYS: &[&str] = &[
    "weft:app/notify",
    "weft:app/ipc",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// Tells what `import` (a component import name such as `weft:app/ipc@0.1.0`)
/// needs. The version after `@` is ignored: the runtime resolves WASI 0.2.x
/// imports by semver and serves exactly one version of `weft:app`.
pub fn import_requirement(import: &str) -> ImportRequirement {
    let interface = import.split_once('@').map_or(import, |(name, _version)| name);
    if ALWAYS.contains(&interface) {
        return ImportRequirement::Always;
    }
    match interface {
        "weft:app/notifications" => ImportRequirement::Capability(CapabilityKind::Notifications),
        "weft:app/clipboard" => ImportRequirement::Capability(CapabilityKind::Clipboard),
        "wasi:http/outgoing-handler" | "wasi:http/types" => {
            ImportRequirement::Capability(CapabilityKind::NetFetch)
        }
        _ => ImportRequirement::Never("WEFT provides no such interface"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_imports_to_capabilities() {
        assert_eq!(import_requirement("weft:app/notify@0.1.0"), ImportRequirement::Always);
        assert_eq!(import_requirement("wasi:io/streams@0.2.6"), ImportRequirement::Always);
        assert_eq!(
            import_requirement("weft:app/clipboard@0.1.0"),
            ImportRequirement::Capability(CapabilityKind::Clipboard)
        );
        assert_eq!(
            import_requirement("wasi:http/outgoing-handler@0.2.6"),
            ImportRequirement::Capability(CapabilityKind::NetFetch)
        );
        assert_eq!(import_requirement("wasi:sockets/tcp@0.2.6"), ImportRequirement::Always);
        assert!(matches!(
            import_requirement("wasi:sockets/raw@0.2.6"),
            ImportRequirement::Never(_)
        ));
        assert!(matches!(import_requirement("evil:host/shell"), ImportRequirement::Never(_)));
        // A look-alike name must not match by prefix.
        assert!(matches!(import_requirement("weft:app/notifyx"), ImportRequirement::Never(_)));
    }
}
