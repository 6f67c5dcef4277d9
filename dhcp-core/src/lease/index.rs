//! Client → binding index of one shard: open addressing with linear probing and
//! backward-shift deletion, four bytes per slot, sized once at start-up.
//!
//! The table stores binding indices only; the key is compared in the slab, so a slot costs
//! 4 bytes instead of a copy of the 32-byte key.

use super::key::ClientKey;

const EMPTY: u32 = u32::MAX;

/// Fixed-capacity index from client key to binding index.
#[derive(Debug)]
pub struct ClientIndex {
    slots: Box<[u32]>,
    mask: usize,
    len: usize,
    max_len: usize,
}

impl ClientIndex {
    /// An index for up to `capacity` clients (load factor kept at or under one half).
    pub fn with_capacity(capacity: usize) -> ClientIndex {
        let size = (capacity.max(4) * 2).next_power_of_two();
        ClientIndex {
            slots: vec![EMPTY; size].into_boxed_slice(),
            mask: size - 1,
            len: 0,
            max_len: size / 2,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory held.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * 4
    }

    fn home(&self, key: &ClientKey) -> usize {
        key.hash64() as usize & self.mask
    }

    /// The binding index for `key`; `key_of` reads a binding's key from the slab.
    pub fn get(&self, key: &ClientKey, key_of: impl Fn(u32) -> ClientKey) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if key_of(v) == *key {
                return Some(v);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `key → value`; false when the index is full (the caller must evict first).
    /// The key must not be present already.
    pub fn insert(&mut self, key: &ClientKey, value: u32) -> bool {
        if self.len >= self.max_len {
            return false;
        }
        let mut i = self.home(key);
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = value;
        self.len += 1;
        true
    }

    /// Removes `key`; returns the binding index it mapped to.
    pub fn remove(&mut self, key: &ClientKey, key_of: impl Fn(u32) -> ClientKey) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if key_of(v) == *key {
                break;
            }
            i = (i + 1) & self.mask;
        }
        let removed = self.slots[i];
        // Backward-shift: move later members of the cluster into the hole when their home
        // position allows, so lookups never need tombstones.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let v = self.slots[j];
            if v == EMPTY {
                break;
            }
            let home = key_of(v).hash64() as usize & self.mask;
            // Distance from home to j versus home to hole, cyclically.
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole <= dist_j {
                self.slots[hole] = v;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn key(i: u32) -> ClientKey {
        ClientKey::from_hw(1, &i.to_be_bytes())
    }

    #[test]
    fn matches_a_hashmap_under_random_operations() {
        // Values are the key numbers themselves, so key_of is key(v).
        let mut idx = ClientIndex::with_capacity(512);
        let mut model: HashMap<u32, ()> = HashMap::new();
        let mut x: u64 = 42;
        for _ in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = ((x >> 33) % 700) as u32;
            let op = (x >> 20) % 3;
            let present = model.contains_key(&k);
            match op {
                0 if !present => {
                    if idx.insert(&key(k), k) {
                        model.insert(k, ());
                    } else {
                        assert_eq!(model.len(), idx.max_len);
                    }
                }
                1 => {
                    let r = idx.remove(&key(k), key);
                    assert_eq!(r.is_some(), present);
                    model.remove(&k);
                }
                _ => {
                    assert_eq!(idx.get(&key(k), key), present.then_some(k));
                }
            }
            assert_eq!(idx.len(), model.len());
        }
        for k in 0..700 {
            assert_eq!(idx.get(&key(k), key).is_some(), model.contains_key(&k));
        }
    }

    #[test]
    fn refuses_when_full() {
        let mut idx = ClientIndex::with_capacity(4);
        let mut n = 0;
        while idx.insert(&key(n), n) {
            n += 1;
        }
        assert_eq!(n as usize, idx.max_len);
        assert!(idx.remove(&key(0), key).is_some());
        assert!(idx.insert(&key(1000), 1000));
    }
}
