//! Calls that share a round trip: concurrent callers of one service (the update's database
//! read, the limits' Redis script) whose work one request can do for many.
//!
//! A caller that finds a runner free does its own call at once, as if alone. One that finds
//! every runner busy queues, and the next runner free does everything queued in one
//! request. So nothing waits while the service keeps up, and once it does not, each round
//! trip serves more callers: the cost per call falls as the load rises.
//!
//! Answers go back to their callers' threads together: waking a task of another thread's
//! runtime is a system call to that thread (and often a switch to it), so the answers of a
//! run for callers of another thread are handed to it in one task, one wake-up for all.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Work that one request can do for many callers.
pub trait Work: Send + Sync + 'static {
    type Call: Send + 'static;
    type Answer: Send + 'static;

    /// Each call's answer, in order.
    fn run(&self, calls: Vec<Self::Call>) -> impl Future<Output = Vec<Self::Answer>> + Send;

    /// The answer of a call whose runner stopped before answering (the process stops).
    fn lost() -> Self::Answer;
}

/// `W`'s calls, at most `runners` requests at once and `most` calls in one.
pub struct Together<W: Work> {
    work: W,
    runners: Arc<Semaphore>,
    most: usize,
    queued: Mutex<Vec<Queued<W>>>,
}

struct Queued<W: Work> {
    call: W::Call,
    answer: oneshot::Sender<W::Answer>,
    /// The caller's thread and runtime, if it has one.
    home: Option<(ThreadId, Handle)>,
}

/// Answers bound for the callers of one thread.
type Delivery<W> = Vec<(oneshot::Sender<<W as Work>::Answer>, <W as Work>::Answer)>;

type Batch<W> = (OwnedSemaphorePermit, Vec<Queued<W>>);

/// A runner's turn. When it ends (its call done, or its caller gone mid-call), the calls
/// queued meanwhile go to a task of their own: this caller waits for none of them.
struct Turn<W: Work> {
    together: Arc<Together<W>>,
    runner: Option<OwnedSemaphorePermit>,
}

impl<W: Work> Drop for Turn<W> {
    fn drop(&mut self) {
        self.together.hand_off(self.runner.take());
    }
}

impl<W: Work> Together<W> {
    pub fn new(work: W, runners: usize, most: usize) -> Arc<Together<W>> {
        Arc::new(Together {
            work,
            runners: Arc::new(Semaphore::new(runners)),
            most: most.max(1),
            queued: Mutex::default(),
        })
    }

    /// `call`'s answer.
    pub async fn call(self: &Arc<Self>, call: W::Call) -> W::Answer {
        if let Ok(runner) = self.runners.clone().try_acquire_owned() {
            let _turn = Turn {
                together: self.clone(),
                runner: Some(runner),
            };
            let mut answers = self.work.run(vec![call]).await;
            return answers.pop().unwrap_or_else(W::lost);
        }
        let (answer, answered) = oneshot::channel();
        let home = Handle::try_current()
            .ok()
            .map(|runtime| (thread::current().id(), runtime));
        self.queue().push(Queued { call, answer, home });
        // Every runner may have finished between the look above and the queueing.
        self.hand_off(None);
        answered.await.unwrap_or_else(|_| W::lost())
    }

    /// Gives the calls queued, if any, to a task of their own with `runner` (else a runner
    /// free, if one is).
    fn hand_off(self: &Arc<Self>, runner: Option<OwnedSemaphorePermit>) {
        if let Some(next) = self.next_batch(runner)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(self.clone().keep_running(next));
        }
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Queued<W>>> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The calls queued, as many as one request takes, with a runner for them (`runner`,
    /// else one free); `None` when none are queued or every runner is busy.
    fn next_batch(&self, mut runner: Option<OwnedSemaphorePermit>) -> Option<Batch<W>> {
        loop {
            let permit = match runner.take() {
                Some(permit) => permit,
                None => self.runners.clone().try_acquire_owned().ok()?,
            };
            let batch: Vec<Queued<W>> = {
                let mut queue = self.queue();
                let n = queue.len().min(self.most);
                queue.drain(..n).collect()
            };
            if !batch.is_empty() {
                return Some((permit, batch));
            }
            drop(permit);
            // A call queued between the look and the drop found every runner busy.
            if self.queue().is_empty() {
                return None;
            }
        }
    }

    async fn keep_running(self: Arc<Self>, (mut runner, mut batch): Batch<W>) {
        loop {
            let (calls, answers): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|q| (q.call, (q.answer, q.home)))
                .unzip();
            let results = self.work.run(calls).await;
            let mut results = results.into_iter();
            let here = thread::current().id();
            let mut away: Vec<((ThreadId, Handle), Delivery<W>)> = Vec::new();
            for (answer, home) in answers {
                let result = results.next().unwrap_or_else(W::lost);
                match home {
                    Some(home) if home.0 != here => {
                        match away.iter_mut().find(|(h, _)| h.0 == home.0) {
                            Some((_, delivery)) => delivery.push((answer, result)),
                            None => away.push((home, vec![(answer, result)])),
                        }
                    }
                    _ => {
                        // Its caller may have gone.
                        let _ = answer.send(result);
                    }
                }
            }
            for ((_, runtime), delivery) in away {
                runtime.spawn(async move {
                    for (answer, result) in delivery {
                        let _ = answer.send(result);
                    }
                });
            }
            match self.next_batch(Some(runner)) {
                Some(next) => (runner, batch) = next,
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Doubles numbers, slowly, counting its requests and their largest.
    #[derive(Default)]
    struct Double {
        requests: AtomicUsize,
        largest: AtomicUsize,
    }

    impl Work for Double {
        type Call = u64;
        type Answer = Option<u64>;

        async fn run(&self, calls: Vec<u64>) -> Vec<Option<u64>> {
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.largest.fetch_max(calls.len(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
            calls.into_iter().map(|n| Some(2 * n)).collect()
        }

        fn lost() -> Option<u64> {
            None
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_caller_gets_its_own_answer_and_queued_calls_share_requests() {
        let together = Together::new(Double::default(), 2, 16);
        let tasks: Vec<_> = (0..200u64)
            .map(|n| {
                let together = together.clone();
                tokio::spawn(async move { (n, together.call(n).await) })
            })
            .collect();
        for task in tasks {
            let (n, answer) = task.await.expect("task");
            assert_eq!(answer, Some(2 * n));
        }
        let (requests, largest) = (
            together.work.requests.load(Ordering::Relaxed),
            together.work.largest.load(Ordering::Relaxed),
        );
        assert!(requests < 100, "{requests} requests for 200 calls");
        assert!(largest <= 16, "{largest} calls in one request");
    }

    /// Callers on two threads, each with a runtime of its own as the HTTP workers have, share
    /// requests and each gets its own answer, whichever thread ran the request.
    #[test]
    fn callers_of_other_threads_runtimes_get_their_answers() {
        let together = Together::new(Double::default(), 1, 16);
        // Each runtime runs until both are done: one may be running the other's requests.
        let done = Arc::new(tokio::sync::Barrier::new(2));
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let (together, done) = (together.clone(), done.clone());
                thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async {
                        let calls: Vec<_> = (0..50u64)
                            .map(|n| {
                                let together = together.clone();
                                let n = t * 1000 + n;
                                tokio::spawn(async move { (n, together.call(n).await) })
                            })
                            .collect();
                        let mut wrong = Vec::new();
                        for call in calls {
                            let (n, answer) = call.await.expect("task");
                            if answer != Some(2 * n) {
                                wrong.push((n, answer));
                            }
                        }
                        let _ = tokio::time::timeout(Duration::from_secs(5), done.wait()).await;
                        wrong
                    })
                })
            })
            .collect();
        for thread in threads {
            let wrong = thread.join().expect("the thread ran");
            assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
        }
        let requests = together.work.requests.load(Ordering::Relaxed);
        assert!(requests < 50, "{requests} requests for 100 calls");
    }

    /// A caller that goes away while its own call runs leaves no queued call unanswered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_gone_mid_call_strands_nobody() {
        let together = Together::new(Double::default(), 1, 16);
        let first = tokio::spawn({
            let together = together.clone();
            async move { together.call(1).await }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let queued: Vec<_> = (2..10u64)
            .map(|n| {
                let together = together.clone();
                tokio::spawn(async move { (n, together.call(n).await) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1)).await;
        first.abort();
        for task in queued {
            let (n, answer) = tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("answered")
                .expect("task");
            assert_eq!(answer, Some(2 * n));
        }
    }
}
