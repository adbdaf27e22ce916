//! Hostile app: never calls `notify.ready`; it waits on IPC forever. The
//! runtime must never print READY for it.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    while let Ok(Some(_)) = weft::app::ipc::recv(None) {}
}
