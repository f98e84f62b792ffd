//! The in-process caches (Keystone tokens, unwrapped project KEKs), on `quick_cache`: sharded,
//! so a hit takes one shard's read lock and no lock shared by every request, with S3-FIFO
//! eviction (one-off keys do not push out hot ones) and hard size bounds.

use std::future::Future;
use std::hash::Hash;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, OptionsBuilder, UnitWeighter};

/// A concurrent cache that never holds more than `capacity` entries (at least one).
///
/// `quick_cache` gives each shard `ceil(capacity / shards)`, which can add up to more than
/// `capacity`; here the shard count is picked (a power of two leaving each shard at least 32
/// entries, as `quick_cache` itself would) and the capacity rounded down to a multiple of it.
/// Evicted, replaced and removed values are dropped outside the shard lock when the call
/// returns.
pub fn bounded<K: Eq + Hash, V: Clone>(capacity: usize) -> Cache<K, V> {
    let capacity = capacity.max(1) as u64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut shards = (cores * 4).next_power_of_two();
    while shards > 1 && capacity / shards < 32 {
        shards /= 2;
    }
    let per_shard = capacity / shards;
    let options = OptionsBuilder::new()
        .shards(shards as usize)
        .estimated_items_capacity((per_shard * shards) as usize)
        .weight_capacity(per_shard * shards)
        .build()
        .expect("cache options");
    Cache::with_options(options, UnitWeighter, DefaultHashBuilder::default(), Default::default())
}

/// A bounded cache whose entries expire, with single-flight loading: concurrent misses for one
/// key wait for the first one's load and share its result.
///
/// An entry is served while its expiry is not before the moment the request asked, so a request
/// that waited on a load gets that load's result even when it is not to be kept (time to live
/// zero: an outage, or caching turned off). Expired entries are misses and are removed.
pub struct Expiring<K, V> {
    inner: Cache<K, (V, Instant)>,
}

impl<K: Eq + Hash + Clone, V: Clone> Expiring<K, V> {
    pub fn new(capacity: usize) -> Self {
        Expiring { inner: bounded(capacity) }
    }

    /// The cached value, or the result of `load` (run by one caller per key at a time; the
    /// others wait for it). `load` gives the value and how long to keep it.
    pub async fn get_or_load<F, Fut>(&self, key: &K, load: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (V, Duration)>,
    {
        self.get_or_load_hit(key, load).await.0
    }

    /// [`Expiring::get_or_load`], and whether the value came from the cache (a caller that
    /// waited on another's load counts as a hit).
    pub async fn get_or_load_hit<F, Fut>(&self, key: &K, load: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (V, Duration)>,
    {
        let asked = Instant::now();
        loop {
            match self.inner.get_value_or_guard_async(key).await {
                Ok((v, until)) if until >= asked => return (v, true),
                Ok(_) => {
                    // Expired: drop it (unless a fresh one replaced it meanwhile) and load.
                    self.inner.remove_if(key, |(_, until)| *until < asked);
                }
                Err(guard) => {
                    // If this future is dropped while loading, the guard passes to a waiter.
                    let (v, ttl) = load().await;
                    let until = Instant::now() + ttl;
                    let _ = guard.insert((v.clone(), until));
                    if ttl.is_zero() {
                        // The waiters have it; nobody else may.
                        self.inner.remove_if(key, |(_, u)| *u == until);
                    }
                    return (v, false);
                }
            }
        }
    }

    /// The entries held (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn bounded_never_holds_more_than_its_capacity() {
        // 65 and 1000 are where quick_cache's own rounding (ceil per shard) goes over.
        for cap in [0usize, 1, 2, 31, 33, 65, 100, 1000, 1025, 10_000] {
            let c = bounded::<u64, u64>(cap);
            for i in 0..(cap as u64 * 4 + 200) {
                c.insert(i, i);
                assert!(c.len() <= cap.max(1), "capacity {cap}: {} entries after {i}", c.len());
            }
            // And the bound is not much below what was asked.
            assert!(c.len() * 10 >= cap * 7, "capacity {cap}: only {} entries", c.len());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expiring_respects_its_size_bound() {
        let c = Expiring::<u64, u64>::new(100);
        for i in 0..5_000u64 {
            assert_eq!(c.get_or_load(&i, || async move { (i * 2, Duration::from_secs(60)) }).await, i * 2);
            assert!(c.len() <= 100, "{} entries", c.len());
        }
    }

    #[tokio::test]
    async fn fresh_entries_are_hits_and_expired_ones_misses() {
        let c = Expiring::<&str, usize>::new(10);
        let loads = AtomicUsize::new(0);
        let load = |ttl| {
            let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
            async move { (n, ttl) }
        };
        assert_eq!(c.get_or_load(&"long", || load(Duration::from_secs(3600))).await, 1);
        assert_eq!(c.get_or_load(&"long", || load(Duration::from_secs(3600))).await, 1, "cached");
        assert_eq!(c.get_or_load(&"short", || load(Duration::from_millis(300))).await, 2);
        assert_eq!(c.get_or_load(&"short", || load(Duration::from_millis(300))).await, 2, "not expired yet");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(c.get_or_load(&"short", || load(Duration::from_secs(3600))).await, 3, "expired: a miss");
        assert_eq!(c.get_or_load(&"short", || load(Duration::from_secs(3600))).await, 3);
        assert_eq!(c.get_or_load(&"zero", || load(Duration::ZERO)).await, 4);
        assert_eq!(c.len(), 2, "a zero time to live keeps nothing");
        assert_eq!(c.get_or_load(&"zero", || load(Duration::ZERO)).await, 5, "not kept");
        assert_eq!(c.get_or_load(&"long", || load(Duration::ZERO)).await, 1);
        assert_eq!(loads.load(Ordering::SeqCst), 5);
    }

    /// N concurrent misses for one key make one load; with time to live zero (an outage, or
    /// caching turned off) the waiters still share that load, and the next request loads again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_load() {
        for ttl in [Duration::from_secs(60), Duration::ZERO] {
            let c = Arc::new(Expiring::<u32, usize>::new(10));
            let (loads, arrived) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let (c, loads, arrived) = (c.clone(), loads.clone(), arrived.clone());
                    tokio::spawn(async move {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        c.get_or_load(&7, || async {
                            // Until every caller has come (and so waits on this load).
                            while arrived.load(Ordering::SeqCst) < 32 {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            (loads.fetch_add(1, Ordering::SeqCst) + 1, ttl)
                        })
                        .await
                    })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), 1, "ttl {ttl:?}: every caller gets the one load's value");
            }
            assert_eq!(loads.load(Ordering::SeqCst), 1, "ttl {ttl:?}: one load for 32 callers");
            let again = c.get_or_load(&7, || async { (loads.fetch_add(1, Ordering::SeqCst) + 1, ttl) }).await;
            assert_eq!(again, if ttl.is_zero() { 2 } else { 1 });
        }
    }

    /// The project-KEK cache holds at most `[kek] cache_size` ciphers: the ones it evicts are
    /// dropped (and so zeroized) once their last user lets go.
    #[test]
    fn kek_cache_drops_evicted_ciphers() {
        use crate::kek::{file::FileProvider, KeyManager};
        use crate::store::{DbUrl, Store};
        let dir = tempfile::tempdir().unwrap();
        let provider = FileProvider::new(dir.path().join("master.kek"));
        provider.create_if_missing().unwrap();
        let store = Store::open(&DbUrl::parse(&format!("sqlite://{}", dir.path().join("db").display())).unwrap(), 1).unwrap();
        store.upgrade().unwrap();
        let mut conn = store.conn().unwrap();
        let keys = KeyManager::new(Arc::new(provider) as Arc<dyn crate::kek::MasterKekProvider>, 16).unwrap();

        let (first_id, first) = keys.active_kek(&mut conn, "p-first").unwrap();
        let (again_id, again) = keys.active_kek(&mut conn, "p-first").unwrap();
        assert_eq!(first_id, again_id);
        assert!(Arc::ptr_eq(&first, &again), "served from the cache");
        assert!(Arc::ptr_eq(&first, &keys.kek(&mut conn, "p-first", &first_id).unwrap()));
        assert!(keys.kek(&mut conn, "p-other", &first_id).is_err(), "another project's KEK");
        let first_weak = Arc::downgrade(&first);
        drop((first, again));
        assert!(first_weak.upgrade().is_some(), "kept by the cache");

        // Other projects, each as hot as the first (one-off ones would not push it out).
        let mut weaks = Vec::new();
        for i in 0..200 {
            let (_, c) = keys.active_kek(&mut conn, &format!("p-{i}")).unwrap();
            weaks.push(Arc::downgrade(&c));
            for _ in 0..2 {
                keys.active_kek(&mut conn, &format!("p-{i}")).unwrap();
            }
        }
        assert!(first_weak.upgrade().is_none(), "evicted and dropped");
        let live = weaks.iter().filter(|w| w.upgrade().is_some()).count();
        assert!((1..=16).contains(&live), "{live} ciphers alive, the cache holds 16");

        // A rotation replaces nothing in use: the old KEK still opens, from the database.
        let (old_id, old) = keys.active_kek(&mut conn, "p-rot").unwrap();
        let new_id = keys.rotate_project_kek(&mut conn, "p-rot").unwrap();
        assert_ne!(old_id, new_id);
        assert_eq!(keys.active_kek(&mut conn, "p-rot").unwrap().0, new_id);
        let sealed = old.seal(b"x", b"aad").unwrap();
        drop(old);
        assert_eq!(&keys.kek(&mut conn, "p-rot", &old_id).unwrap().open(&sealed, b"aad").unwrap()[..], b"x");
    }

    /// A loader that goes away (its request was dropped) hands the load to a waiter.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_load_passes_to_a_waiter() {
        let c = Arc::new(Expiring::<u32, &'static str>::new(10));
        let first = {
            let c = c.clone();
            tokio::spawn(async move {
                c.get_or_load(&1, || async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    ("never", Duration::from_secs(60))
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = {
            let c = c.clone();
            tokio::spawn(async move { c.get_or_load(&1, || async { ("second", Duration::from_secs(60)) }).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "waits for the first load");
        first.abort();
        let v = tokio::time::timeout(Duration::from_secs(5), second).await.expect("not stuck").unwrap();
        assert_eq!(v, "second");
    }
}
