//! Hostile app: reports ready, then computes forever without waiting. The
//! runtime must end it once it passes its CPU budget.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    weft::app::notify::ready();
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}
