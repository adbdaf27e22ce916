//! Hostile app: panics before it reports ready.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    let settings: Option<u32> = std::hint::black_box(None);
    let value = settings.expect("settings must exist");
    weft::app::notify::ready();
    println!("{value}");
}
