//! Host to page without polling: a thread waits on the page's [`Bridge`] and
//! wakes the shell's loop, which evaluates [`push_script`] in the page (its
//! bridge's `__weftPush`). One push is in flight at a time, so deliveries
//! reach the page in order; a push the page could not take (no document with
//! the bridge yet) goes back to the front of the queue and is tried again, so
//! nothing is lost between documents.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use servo::{EventLoopWaker, WebView};
use weft_shell_core::bridge::{Bridge, Delivery, MAX_BATCH, push_script, take_batch};

/// How long a push that failed waits before it is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// Deliveries on their way into one page.
pub struct Pusher {
    arrived: Receiver<Delivery>,
    queue: Rc<RefCell<VecDeque<Delivery>>>,
    in_flight: Rc<Cell<bool>>,
    not_before: Rc<Cell<Option<Instant>>>,
}

impl Pusher {
    /// Starts the thread that waits on `bridge`; `waker` wakes the shell's
    /// loop when something arrives.
    pub fn start(bridge: Arc<dyn Bridge>, waker: Box<dyn EventLoopWaker>) -> std::io::Result<Self> {
        let (sender, arrived) = channel();
        std::thread::Builder::new().name("weft-bridge-push".into()).spawn(move || {
            loop {
                let batch = take_batch(&*bridge, Duration::from_secs(60));
                let ended = batch.iter().any(|delivery| matches!(delivery, Delivery::Stopped(_)));
                for delivery in batch {
                    if sender.send(delivery).is_err() {
                        return;
                    }
                }
                waker.wake();
                if ended {
                    return;
                }
            }
        })?;
        Ok(Self {
            arrived,
            queue: Rc::default(),
            in_flight: Rc::default(),
            not_before: Rc::default(),
        })
    }

    /// Pushes what has arrived into `webview` when its document has the
    /// bridge (`document_ready`) and no earlier push is still in flight.
    pub fn push(&self, webview: &WebView, document_ready: bool) {
        self.queue.borrow_mut().extend(self.arrived.try_iter());
        if !document_ready
            || self.in_flight.get()
            || self.queue.borrow().is_empty()
            || self.not_before.get().is_some_and(|at| Instant::now() < at)
        {
            return;
        }
        let batch: Vec<Delivery> = {
            let mut queue = self.queue.borrow_mut();
            let take = queue.len().min(MAX_BATCH);
            queue.drain(..take).collect()
        };
        self.in_flight.set(true);
        let (queue, in_flight, not_before) =
            (Rc::clone(&self.queue), Rc::clone(&self.in_flight), Rc::clone(&self.not_before));
        let script = push_script(&batch);
        webview.evaluate_javascript(script, move |result| {
            in_flight.set(false);
            if let Err(error) = result {
                tracing::debug!("the page did not take {} deliveries yet: {error:?}", batch.len());
                let mut queue = queue.borrow_mut();
                for delivery in batch.into_iter().rev() {
                    queue.push_front(delivery);
                }
                not_before.set(Some(Instant::now() + RETRY));
            }
        });
    }
}
