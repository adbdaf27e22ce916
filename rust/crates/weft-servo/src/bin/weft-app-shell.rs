//! weft-app-shell: an app's web UI on Servo (see `weft_servo::app`).

use clap::Parser;

fn main() -> anyhow::Result<()> {
    weft_servo::app::main(weft_servo::app::Args::parse())
}
