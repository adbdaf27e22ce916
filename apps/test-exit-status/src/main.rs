//! Test app: once ready, says one line on stdout and one on stderr, then
//! exits with a status of its own (42), which its stop reason must carry.
//! (`std::process::exit` in Rust's WASI 0.2 std says only "failed", status 1;
//! `wasi:cli/exit.exit-with-code` carries the number.)

wit_bindgen::generate!({ path: "../../rust/wit", world: "app" });

fn main() {
    weft::app::notify::ready();
    println!("to stdout");
    eprintln!("to stderr");
    wasip2::cli::exit::exit_with_code(42);
}
