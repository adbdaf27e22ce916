//! `notes`: keeps text notes in its data directory (`/data`) and copies them to
//! and from the user's documents (`/xdg/documents`). Its UI sends one command per
//! IPC message and gets one answer back:
//!
//! - `save <name> <text>` → `saved <name>`
//! - `load <name>` → `note <name> <text>`
//! - `list` → `notes <name> <name> …`
//! - `export <name>` (data → documents) / `import <name>` (documents → data)
//! - `copy <name>` (note → clipboard) / `paste <name>` (clipboard → note)
//!
//! Failures answer `error <what>`; names are single path components. A save
//! also shows a notification ("Note saved", the name).

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

use std::fs;

use weft::app::{clipboard, ipc, notifications, notify};

const DATA: &str = "/data";
const DOCUMENTS: &str = "/xdg/documents";

/// A note name: one plain path component.
fn note_name(name: &str) -> Result<&str, String> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if plain { Ok(name) } else { Err(format!("bad note name {name:?}")) }
}

fn answer(command: &str) -> Result<String, String> {
    let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
    match verb {
        "save" => {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = note_name(name)?;
            fs::write(format!("{DATA}/{name}"), text).map_err(|e| format!("save {name}: {e}"))?;
            // The note is saved either way; a refused notification is not an error.
            let _ = notifications::notify("Note saved", name);
            Ok(format!("saved {name}"))
        }
        "load" => {
            let name = note_name(rest)?;
            let text = fs::read_to_string(format!("{DATA}/{name}")).map_err(|e| format!("load {name}: {e}"))?;
            Ok(format!("note {name} {text}"))
        }
        "list" => {
            let mut names: Vec<String> = fs::read_dir(DATA)
                .map_err(|e| format!("list: {e}"))?
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            Ok(format!("notes {}", names.join(" ")).trim_end().to_owned())
        }
        "export" | "import" => {
            let name = note_name(rest)?;
            let (from, to) = if verb == "export" { (DATA, DOCUMENTS) } else { (DOCUMENTS, DATA) };
            fs::copy(format!("{from}/{name}"), format!("{to}/{name}")).map_err(|e| format!("{verb} {name}: {e}"))?;
            Ok(format!("{verb}ed {name}"))
        }
        "copy" => {
            let name = note_name(rest)?;
            let text = fs::read_to_string(format!("{DATA}/{name}")).map_err(|e| format!("copy {name}: {e}"))?;
            clipboard::write(&text).map_err(|e| format!("copy {name}: {e:?}"))?;
            Ok(format!("copied {name}"))
        }
        "paste" => {
            let name = note_name(rest)?;
            let text = clipboard::read().map_err(|e| format!("paste {name}: {e:?}"))?.unwrap_or_default();
            fs::write(format!("{DATA}/{name}"), &text).map_err(|e| format!("paste {name}: {e}"))?;
            Ok(format!("pasted {name}"))
        }
        _ => Err(format!("unknown command {verb:?}")),
    }
}

fn main() {
    // Touch the filesystem before the first IPC call (see the note in
    // docs/app-guide.md about the WASI preview 1 adapter).
    let _ = fs::metadata(DATA);
    notify::ready();
    while let Ok(Some(command)) = ipc::recv(None) {
        let reply = answer(&command).unwrap_or_else(|error| format!("error {error}"));
        // An answer over the rate limit is dropped; only a closed channel ends
        // the app.
        if let Err(ipc::IpcError::Closed) = ipc::send(&reply) {
            break;
        }
    }
}
