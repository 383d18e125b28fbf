//! Threads for background work that costs CPU: webhook calls and the outbox reads for
//! them, DKIM signing of outgoing mail. They run at the lowest OS priority (nice 19),
//! below the threads that answer requests and write the database, so under a burst
//! ingest keeps the CPU and deliveries fall behind, to catch up once the burst is over:
//! accepting data comes first, and deferred work loses nothing by waiting in its queue.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// Niceness of a pool thread: the lowest, to yield to request handling under load,
/// while an idle machine still gives the calls all the CPU they can use.
const NICENESS: i32 = 19;

type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads running blocking work.
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
    /// Starts `threads` threads named `<name>-<n>`.
    pub fn new(name: &str, threads: usize) -> Pool {
        let (tx, rx) = channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(rx))
                .expect("start a pool thread");
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
            .expect("pool")
            .send(task)
            .expect("webhook threads run as long as the pool");
        rx.await.expect("pool work never panics")
    }
}
