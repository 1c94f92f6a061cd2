//! A bounded cache of what a pure function gives for a text: parsed GraphQL documents, the
//! rewritten markup of an email's Outlook-only comments. Bounded by entries and by the bytes of
//! the texts kept; the least recently used go first. A text longer than the cache's limit is
//! never kept.
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;

pub struct TextCache<V> {
    kept: Mutex<Kept<V>>,
    max_text_bytes: usize,
    max_kept_text: usize,
}

struct Kept<V> {
    values: LruCache<Box<str>, V>,
    text_bytes: usize,
}

impl<V: Clone> TextCache<V> {
    /// At most `entries` texts of at most `max_kept_text` bytes each, `max_text_bytes` in all.
    pub fn new(entries: usize, max_text_bytes: usize, max_kept_text: usize) -> Self {
        TextCache {
            kept: Mutex::new(Kept {
                values: LruCache::new(NonZeroUsize::new(entries.max(1)).expect("not zero")),
                text_bytes: 0,
            }),
            max_text_bytes,
            max_kept_text,
        }
    }

    /// The value kept for `text`, or `make(text)`, kept when it is `Ok`. `make` runs outside the
    /// lock: two callers may make the same value meanwhile, and the last one made is kept.
    pub fn get_or_try<E>(
        &self,
        text: &str,
        make: impl FnOnce(&str) -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(found) = self.lock().values.get(text) {
            return Ok(found.clone());
        }
        let value = make(text)?;
        if text.len() <= self.max_kept_text {
            let mut kept = self.lock();
            if let Some((old, _)) = kept.values.push(text.into(), value.clone()) {
                kept.text_bytes -= old.len();
            }
            kept.text_bytes += text.len();
            while kept.text_bytes > self.max_text_bytes {
                let Some((old, _)) = kept.values.pop_lru() else {
                    break;
                };
                kept.text_bytes -= old.len();
            }
        }
        Ok(value)
    }

    /// How many texts are kept, and their total length.
    #[cfg(test)]
    fn kept(&self) -> (usize, usize) {
        let kept = self.lock();
        (kept.values.len(), kept.text_bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Kept<V>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_made_once_and_the_bounds_hold() {
        let cache: TextCache<usize> = TextCache::new(4, 40, 12);
        let made = std::cell::Cell::new(0);
        let len = |t: &str| -> Result<usize, ()> {
            made.set(made.get() + 1);
            Ok(t.len())
        };
        assert_eq!(cache.get_or_try("abc", len), Ok(3));
        assert_eq!(cache.get_or_try("abc", len), Ok(3));
        assert_eq!(made.get(), 1, "the second read is the kept value");
        assert_eq!(cache.get_or_try("x", |_| Err::<usize, _>("no")), Err("no"));
        assert_eq!(cache.kept(), (1, 3), "a failure is not kept");

        for n in 0..10 {
            cache.get_or_try(&format!("text {n}"), len).unwrap();
        }
        assert_eq!(cache.kept().0, 4, "at most 4 entries");
        for n in 0..10 {
            cache.get_or_try(&format!("longer text {n}"), len).unwrap();
        }
        assert!(cache.kept().1 <= 40, "at most 40 bytes: {:?}", cache.kept());
        let before = cache.kept();
        assert_eq!(cache.get_or_try("a text over twelve bytes", len), Ok(24));
        assert_eq!(cache.kept(), before, "a long text is not kept");
    }
}
