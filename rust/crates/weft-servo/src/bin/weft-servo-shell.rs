//! weft-servo-shell: the system UI on Servo (see `weft_servo::system`).

use clap::Parser;

fn main() -> anyhow::Result<()> {
    weft_servo::system::main(weft_servo::system::Args::parse())
}
