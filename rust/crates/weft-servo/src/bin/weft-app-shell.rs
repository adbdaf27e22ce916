//! weft-app-shell: an app's web UI on Servo (see `weft_servo::app`).

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let _scratch = weft_servo::init()?;
    weft_servo::app::main(weft_servo::app::Args::parse())
}
