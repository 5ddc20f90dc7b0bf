//! A parsed object's members read as a Python dict built by msgspec: for duplicate keys, the
//! last value wins, at the first key's position.

use hashbrown::HashMap;

use super::json::{JStr, Members, Value};

/// Objects with more members than this get a hash index for lookups and de-duplication; below
/// it, linear scans are faster.
pub(super) const SMALL_OBJECT: usize = 8;

/// A view of an object's members with Python-dict semantics for duplicate keys.
pub(super) struct Object<'a, 'j> {
    members: &'a Members<'j>,
    /// key → (first index, last index), for large objects only.
    index: Option<HashMap<&'a str, (usize, usize)>>,
}

impl<'a, 'j> Object<'a, 'j> {
    pub(super) fn new(members: &'a Members<'j>) -> Self {
        let index = (members.len() > SMALL_OBJECT).then(|| {
            let mut index: HashMap<&str, (usize, usize)> = HashMap::with_capacity(members.len());
            for (i, (key, _)) in members.iter().enumerate() {
                index.entry(key.as_str()).or_insert((i, i)).1 = i;
            }
            index
        });
        Object { members, index }
    }

    /// The value of the last member named `key`.
    pub(super) fn get(&self, key: &str) -> Option<&'a Value<'j>> {
        match &self.index {
            Some(index) => index.get(key).map(|&(_, last)| &self.members[last].1),
            None => self
                .members
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
        }
    }

    /// Each distinct key once, at its first position, with its last value.
    pub(super) fn for_each(&self, mut f: impl FnMut(&'a JStr<'j>, &'a Value<'j>)) {
        let members = self.members;
        for (i, (key, value)) in members.iter().enumerate() {
            match &self.index {
                Some(index) => {
                    let (first, last) = index[key.as_str()];
                    if first == i {
                        f(key, &members[last].1);
                    }
                }
                None => {
                    if members[..i].iter().any(|(k, _)| k == key) {
                        continue;
                    }
                    let last = members[i + 1..]
                        .iter()
                        .rev()
                        .find(|(k, _)| k == key)
                        .map_or(value, |(_, v)| v);
                    f(key, last);
                }
            }
        }
    }
}
