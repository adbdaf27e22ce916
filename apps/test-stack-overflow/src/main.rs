//! Hostile app: reports ready, then recurses without end. Frames are small so
//! the engine's stack limit, not the shadow stack in linear memory, is hit.

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

#[inline(never)]
#[expect(unconditional_recursion, reason = "overflowing the stack is the point")]
fn dive(depth: u64) -> u64 {
    std::hint::black_box(dive(std::hint::black_box(depth + 1))) + 1
}

fn main() {
    weft::app::notify::ready();
    println!("{}", dive(0));
}
