//! The `--jobs` places of `lab smoke`, given in the run's order. Scenarios that wait for
//! a snapshot are woken together when it is published (lab 4's five variants at once);
//! a first-come semaphore would then place them in whatever order the runtime polls
//! them. Here the waiting scenario ranked first gets the next free place (`lab smoke`
//! ranks the longest expected first), so one that waits out a failing check's window
//! does not start last and make the run's tail.

use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

pub struct Places {
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// Rank -> the waiting scenario's wake-up (ranks are unique: one per scenario).
    waiting: BTreeMap<usize, oneshot::Sender<()>>,
}

/// A place held; given to the first-ranked waiting scenario when dropped.
pub struct Place<'a> {
    places: &'a Places,
}

impl Places {
    pub fn new(n: usize) -> Places {
        Places {
            state: Mutex::new(State {
                free: n,
                waiting: BTreeMap::new(),
            }),
        }
    }

    /// Waits for a place; among those waiting, the lowest `rank` is served first.
    pub async fn acquire(&self, rank: usize) -> Place<'_> {
        let rx = {
            let mut s = self.lock();
            if s.free > 0 && s.waiting.is_empty() {
                s.free -= 1;
                return Place { places: self };
            }
            let (tx, rx) = oneshot::channel();
            s.waiting.insert(rank, tx);
            rx
        };
        // The sender lives in `waiting` until a place is handed over with it.
        let _ = rx.await;
        Place { places: self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut s = self.places.lock();
        // A waiter that went away (its scenario was dropped) is skipped.
        while let Some((_, tx)) = s.waiting.pop_first() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        s.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_first_ranked_waiter_gets_the_next_place_whoever_asked_first() {
        let places = Arc::new(Places::new(1));
        let held = places.acquire(0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // They ask in the order 3, 1, 2; they are served 1, 2, 3.
        for rank in [3, 1, 2] {
            let (mine, order) = (places.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = mine.acquire(rank).await;
                order.lock().unwrap().push(rank);
            }));
            // Let it register before the next asks.
            while places.lock().waiting.len() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![1, 2, 3]);
        assert_eq!(places.lock().free, 1, "every place given back");
    }

    #[tokio::test]
    async fn a_waiter_that_went_away_is_skipped_and_its_place_not_lost() {
        let places = Places::new(1);
        let held = places.acquire(0).await;
        {
            // Asks, then is dropped while waiting.
            let gone = places.acquire(1);
            tokio::select! {
                _ = gone => unreachable!("no place is free"),
                _ = tokio::task::yield_now() => {}
            }
        }
        assert_eq!(places.lock().waiting.len(), 1);
        drop(held);
        assert_eq!(places.lock().free, 1);
        assert!(places.lock().waiting.is_empty());
        let _again = places.acquire(2).await;
        assert_eq!(places.lock().free, 0);
    }

    #[tokio::test]
    async fn with_places_free_none_waits() {
        let places = Places::new(2);
        let a = places.acquire(5).await;
        let b = places.acquire(9).await;
        assert_eq!(places.lock().free, 0);
        drop((a, b));
        assert_eq!(places.lock().free, 2);
    }
}
