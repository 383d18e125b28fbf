//! The threads that make webhook calls and read the outbox for them. They run at the
//! lowest OS priority (nice 19), below the threads that answer requests and write the
//! database, so under a burst of events ingest keeps the CPU and deliveries fall behind,
//! to catch up once the burst is over: accepting data comes first, and deliveries lose
//! nothing by waiting in the outbox.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// Niceness of a calling thread: the lowest, to yield to request handling under load,
/// while an idle machine still gives the calls all the CPU they can use.
const NICENESS: i32 = 19;

type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads running blocking calls.
pub struct Pool {
    tasks: Mutex<Sender<Task>>,
}

fn lower_priority() {
    // SAFETY: gettid and setpriority only read their arguments; on failure (not Linux,
    // or not permitted) the thread simply keeps its priority.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS);
    }
}

fn work(tasks: Arc<Mutex<Receiver<Task>>>) {
    lower_priority();
    loop {
        let next = tasks.lock().map(|rx| rx.recv());
        match next {
            Ok(Ok(task)) => task(),
            _ => return,
        }
    }
}

impl Pool {
    /// Starts `threads` calling threads.
    pub fn new(threads: usize) -> Pool {
        let (tx, rx) = channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("webhook-{n}"))
                .spawn(move || work(rx))
                .expect("start a webhook thread");
        }
        Pool {
            tasks: Mutex::new(tx),
        }
    }

    /// Runs `f` on a pool thread and waits for its answer without blocking the runtime.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            let _ = tx.send(f());
        });
        self.tasks
            .lock()
            .expect("webhook pool")
            .send(task)
            .expect("webhook threads run as long as the pool");
        rx.await.expect("a webhook call never panics")
    }
}
