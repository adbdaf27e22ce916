//! Hostile app: imports `weft:app/notifications` though its manifest does not
//! declare `sys:notifications`. The runtime must refuse to launch it.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    weft::app::notify::ready();
    let _ = weft::app::notifications::notify("hi", "this must never be shown");
}
