//! Threads for background work that costs CPU: webhook calls and the outbox reads for
//! them, DKIM signing of outgoing mail. They run in Linux's idle scheduling class
//! (`SCHED_IDLE`), below the threads that answer requests and write the database, so
//! under a burst ingest keeps the CPU and deliveries fall behind, to catch up once the
//! burst is over: accepting data comes first, and deferred work loses nothing by waiting
//! in its queue. Nice 19 alone was not enough: a request thread waking up still waited
//! behind a nice-19 call often enough to cost ingest a tenth of its rate with ten
//! webhooks (`benches/webhooks.rs`, 0.59-0.67x against 0.72-0.75x in the idle class).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// Niceness of a pool thread where the idle class is refused: the lowest, to yield to
/// request handling under load, while an idle machine still gives the calls all the CPU.
const NICENESS: i32 = 19;

type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads running blocking work.
pub struct Pool {
    tasks: Mutex<Sender<Task>>,
}

fn lower_priority() {
    // SAFETY: gettid, sched_setscheduler and setpriority only read their arguments; pid 0
    // is the calling thread. On failure the thread keeps the priority it had.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS);
        }
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
