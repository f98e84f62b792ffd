//! The key-generation queue of asymmetric orders: bounded (in all and per project) and fair
//! between projects. Each project has its own FIFO; a small fixed pool of threads takes the next
//! job of each project in turn (round-robin), so a project that queued a hundred RSA-4096
//! orders delays another project's order by at most one job per worker.
//!
//! A place in the queue is reserved ([`KeygenQueue::reserve`]) before the order row is written,
//! so a full queue refuses an order with nothing written; the [`Ticket`] gives the place back if
//! it is dropped unused. The place is held until the job has run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::config::OrdersSection;

/// A unit of work: generate and store one order's keys.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Which bound refused a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    All,
    Project,
}

#[derive(Default)]
struct State {
    /// Jobs waiting, per project.
    queues: HashMap<String, VecDeque<Job>>,
    /// Projects with waiting jobs, in serving order.
    ring: VecDeque<String>,
    /// Places held (reserved, waiting or running), in all and per project.
    held: usize,
    held_by: HashMap<String, usize>,
    workers_started: bool,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    ready: Condvar,
    workers: usize,
    limit: usize,
    limit_per_project: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, project: &str) {
        let mut st = self.lock();
        st.held = st.held.saturating_sub(1);
        if let Some(n) = st.held_by.get_mut(project) {
            *n -= 1;
            if *n == 0 {
                st.held_by.remove(project);
            }
        }
    }
}

pub struct KeygenQueue {
    inner: Arc<Inner>,
}

impl KeygenQueue {
    pub fn new(cfg: &OrdersSection) -> KeygenQueue {
        let workers = match cfg.keygen_workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4),
            n => n,
        };
        KeygenQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
                workers,
                limit: cfg.queue_size.max(1),
                limit_per_project: cfg.queue_size_per_project.max(1),
            }),
        }
    }

    /// Reserves a place for one of `project`'s orders, or says which bound is reached.
    pub fn reserve(&self, project: &str) -> Result<Ticket, Full> {
        let mut st = self.inner.lock();
        if st.held >= self.inner.limit {
            return Err(Full::All);
        }
        let mine = st.held_by.get(project).copied().unwrap_or(0);
        if mine >= self.inner.limit_per_project {
            return Err(Full::Project);
        }
        st.held += 1;
        *st.held_by.entry(project.to_string()).or_insert(0) += 1;
        Ok(Ticket { inner: Some(self.inner.clone()), project: project.to_string() })
    }

    /// Orders waiting or running (places held), all projects together.
    pub fn depth(&self) -> usize {
        self.inner.lock().held
    }

    /// Queues a job past the bounds (orders found PENDING at start have their row already).
    pub fn submit_unbounded(&self, project: &str, job: Job) {
        {
            let mut st = self.inner.lock();
            st.held += 1;
            *st.held_by.entry(project.to_string()).or_insert(0) += 1;
        }
        let t = Ticket { inner: Some(self.inner.clone()), project: project.to_string() };
        t.submit(job);
    }
}

impl Drop for KeygenQueue {
    fn drop(&mut self) {
        // Workers finish what is queued, then exit.
        self.inner.lock().closed = true;
        self.inner.ready.notify_all();
    }
}

/// A reserved place in the queue; given back on drop unless a job was submitted with it.
pub struct Ticket {
    inner: Option<Arc<Inner>>,
    project: String,
}

impl Ticket {
    /// Queues the job behind the project's earlier ones.
    pub fn submit(mut self, job: Job) {
        let Some(inner) = self.inner.take() else { return };
        let mut st = inner.lock();
        if !st.workers_started {
            st.workers_started = true;
            for i in 0..inner.workers {
                let w = inner.clone();
                if let Err(e) = std::thread::Builder::new().name(format!("portcullis-keygen-{i}")).spawn(move || work(w)) {
                    tracing::error!(error = %e, "cannot start a key-generation thread");
                }
            }
        }
        let q = st.queues.entry(self.project.clone()).or_default();
        q.push_back(job);
        if q.len() == 1 {
            st.ring.push_back(self.project.clone());
        }
        drop(st);
        inner.ready.notify_one();
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.release(&self.project);
        }
    }
}

/// A worker: the next project in turn, its oldest job; the place is given back after the run.
fn work(inner: Arc<Inner>) {
    loop {
        let (project, job) = {
            let mut st = inner.lock();
            loop {
                if let Some(p) = st.ring.pop_front() {
                    let q = st.queues.get_mut(&p).expect("a project in the ring has a queue");
                    let job = q.pop_front().expect("a project in the ring has a job");
                    if q.is_empty() {
                        st.queues.remove(&p);
                    } else {
                        st.ring.push_back(p.clone());
                    }
                    break (p, job);
                }
                if st.closed {
                    return;
                }
                st = inner.ready.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a key-generation job panicked");
        }
        inner.release(&project);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn queue(workers: usize, all: usize, per: usize) -> KeygenQueue {
        KeygenQueue::new(&OrdersSection {
            inline_budget_ms: 0,
            keygen_workers: workers,
            queue_size: all,
            queue_size_per_project: per,
            lease_seconds: 30,
        })
    }

    #[test]
    fn bounds_and_release() {
        let q = queue(1, 3, 2);
        let a1 = q.reserve("a").unwrap();
        let _a2 = q.reserve("a").unwrap();
        assert_eq!(q.reserve("a").err(), Some(Full::Project));
        let _b1 = q.reserve("b").unwrap();
        assert_eq!(q.reserve("c").err(), Some(Full::All));
        drop(a1);
        assert!(q.reserve("c").is_ok(), "a dropped ticket gives its place back");
    }

    #[test]
    fn projects_are_served_in_turn() {
        let q = queue(1, 100, 100);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel::<String>();
        // The first job holds the only worker until everything is queued.
        q.reserve("a").unwrap().submit(Box::new(move || {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap();
        }));
        started_rx.recv().unwrap();
        for (p, i) in [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("a", 4), ("c", 1), ("b", 2)] {
            let tx = tx.clone();
            q.reserve(p).unwrap().submit(Box::new(move || tx.send(format!("{p}{i}")).unwrap()));
        }
        gate_tx.send(()).unwrap();
        let order: Vec<String> = (0..7).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(order, ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    }
}
