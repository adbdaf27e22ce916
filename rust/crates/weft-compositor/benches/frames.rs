//! Compositor figures, measured in one run at 1920×1080 on the headless pixman
//! backend: the time to draw a frame with 1, 4 and 8 windows open (a panel and
//! apps, every client changing a 64×64 square at each frame callback),
//! redrawing everything against only the damage; and the latency from an injected key to the
//! focused client receiving it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::TestClient;
use weft_compositor::server::Command;
use weft_compositor::state::Authorization;
use weft_protocol::zweft::client::zweft_shell_manager_v1::Role;

fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort();
    values[((values.len() - 1) as f64 * q).round() as usize]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Frame times over two seconds with `windows` windows open (the first is the
/// panel), every client animating.
fn frame_times(windows: usize, full_redraw: bool) -> Vec<Duration> {
    let compositor = common::headless(1920, 1080);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for index in 0..windows {
        let (authorization, app_id, role) = if index == 0 {
            (Authorization::system_ui(), "org.weft.system".to_owned(), Role::Panel)
        } else {
            let app_id = format!("org.weft.bench.app{index}");
            (Authorization::app(app_id.clone()), app_id, Role::Application)
        };
        let mut client = TestClient::connect(&compositor, authorization, [40, 80, 120, 255]);
        let _window = client.zweft_window(&app_id, role, 48);
        client.animate();
        let stop = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            let _window = _window;
            client.run_until(&stop)
        }));
    }
    compositor.send(Command::SetFullRedraw(full_redraw));
    std::thread::sleep(Duration::from_millis(500));
    compositor.ask(Command::TakeFrameTimes);
    std::thread::sleep(Duration::from_secs(2));
    let times = compositor.ask(Command::TakeFrameTimes).unwrap();
    stop.store(true, Ordering::Relaxed);
    drop(compositor);
    for thread in threads {
        let _ = thread.join();
    }
    times
}

/// Key injected → key event at the focused client, over `presses` presses.
fn key_latency(presses: usize) -> Vec<Duration> {
    let compositor = common::headless(1920, 1080);
    let mut client =
        TestClient::connect(&compositor, Authorization::app("org.weft.bench.keys"), [9, 9, 9, 255]);
    let _window = client.zweft_window("org.weft.bench.keys", Role::Application, 48);
    assert!(client.until(|seen| seen.keyboard_entered));
    let mut latencies = Vec::with_capacity(presses);
    for press in 0..presses {
        let sent = Instant::now();
        compositor.send(Command::Key(30, true));
        assert!(client.until_blocking(|seen| seen.key_times.len() > press));
        latencies.push(client.state.seen.key_times[press].duration_since(sent));
        compositor.send(Command::Key(30, false));
    }
    latencies
}

fn main() {
    println!("frame time at 1920x1080, pixman, every client changing 64x64 pixels each frame:");
    for windows in [1, 4, 8] {
        let mut full = frame_times(windows, true);
        let mut damaged = frame_times(windows, false);
        let (full_p50, full_p99) = (quantile(&mut full, 0.5), quantile(&mut full, 0.99));
        let (damage_p50, damage_p99) = (quantile(&mut damaged, 0.5), quantile(&mut damaged, 0.99));
        println!(
            "  {windows} window(s): full redraw p50 {:.2} ms p99 {:.2} ms ({} frames); damage-tracked p50 {:.2} ms p99 {:.2} ms ({} frames); damage p99 is {:.2}x the full p99{}",
            millis(full_p50),
            millis(full_p99),
            full.len(),
            millis(damage_p50),
            millis(damage_p99),
            damaged.len(),
            damage_p99.as_secs_f64() / full_p99.as_secs_f64(),
            if windows == 8 {
                format!(" (goal p99 <= 4 ms: {:.2}x of it)", millis(damage_p99) / 4.0)
            } else {
                String::new()
            }
        );
    }
    let mut keys = key_latency(300);
    println!(
        "key injected -> focused client's key event (300 presses): p50 {:.0} us, p99 {:.0} us",
        quantile(&mut keys, 0.5).as_secs_f64() * 1e6,
        quantile(&mut keys, 0.99).as_secs_f64() * 1e6
    );
}
