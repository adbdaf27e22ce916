//! Hostile app: sends 20 000 IPC messages as fast as it can, then reports how
//! many the runtime refused as `refused <n>`.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    weft::app::notify::ready();
    let mut refused = 0u32;
    for index in 0..20_000u32 {
        if weft::app::ipc::send(&format!("flood {index}")).is_err() {
            refused += 1;
        }
    }
    while weft::app::ipc::send(&format!("refused {refused}")).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
