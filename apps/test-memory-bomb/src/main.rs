//! Hostile app: reports ready, then grows its memory 1 MiB at a time without
//! end. The runtime must stop it at its 16 MiB cap.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    weft::app::notify::ready();
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xa5; 1 << 20]);
        eprintln!("holding {} MiB", hoard.len());
    }
}
