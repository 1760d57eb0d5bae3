//! Prefix tries for subscriptions.
//!
//! Matching walks the message's topic bytes once from the root, so the cost per message is
//! the topic's length plus the matches, however many subscriptions exist.

use std::collections::BTreeMap;

/// A byte trie with a value at each node (`V::default()` where nothing is stored).
#[derive(Debug)]
pub(crate) struct Trie<V> {
    root: Node<V>,
}

#[derive(Debug)]
struct Node<V> {
    value: V,
    children: BTreeMap<u8, Node<V>>,
}

impl<V: Default> Default for Node<V> {
    fn default() -> Self {
        Node {
            value: V::default(),
            children: BTreeMap::new(),
        }
    }
}

impl<V: Default> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            root: Node::default(),
        }
    }
}

impl<V: Default> Trie<V> {
    /// The value at `key`, created on demand.
    pub(crate) fn entry(&mut self, key: &[u8]) -> &mut V {
        let mut n = &mut self.root;
        for b in key {
            n = n.children.entry(*b).or_default();
        }
        &mut n.value
    }

    /// The value at `key`, if the node exists.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let mut n = &mut self.root;
        for b in key {
            n = n.children.get_mut(b)?;
        }
        Some(&mut n.value)
    }

    /// Calls `f` with the value of every node on the path of `data` (every prefix of
    /// `data`, the empty prefix included).
    pub(crate) fn for_each_prefix(&self, data: &[u8], mut f: impl FnMut(&V)) {
        let mut n = &self.root;
        f(&n.value);
        for b in data {
            match n.children.get(b) {
                Some(c) => {
                    n = c;
                    f(&n.value);
                }
                None => return,
            }
        }
    }

    /// Whether any prefix of `data` satisfies `pred`.
    pub(crate) fn any_prefix(&self, data: &[u8], pred: impl Fn(&V) -> bool) -> bool {
        let mut n = &self.root;
        if pred(&n.value) {
            return true;
        }
        for b in data {
            match n.children.get(b) {
                Some(c) => {
                    n = c;
                    if pred(&n.value) {
                        return true;
                    }
                }
                None => return false,
            }
        }
        false
    }

    /// Visits every node with its key.
    pub(crate) fn walk(&self, mut f: impl FnMut(&[u8], &V)) {
        fn go<V>(n: &Node<V>, key: &mut Vec<u8>, f: &mut impl FnMut(&[u8], &V)) {
            f(key, &n.value);
            for (b, c) in &n.children {
                key.push(*b);
                go(c, key, f);
                key.pop();
            }
        }
        go(&self.root, &mut Vec::new(), &mut f);
    }

    /// Visits every node mutably with its key, then drops nodes left empty.
    pub(crate) fn walk_mut(
        &mut self,
        is_empty: impl Fn(&V) -> bool + Copy,
        mut f: impl FnMut(&[u8], &mut V),
    ) {
        fn go<V>(
            n: &mut Node<V>,
            key: &mut Vec<u8>,
            f: &mut impl FnMut(&[u8], &mut V),
            is_empty: impl Fn(&V) -> bool + Copy,
        ) {
            f(key, &mut n.value);
            n.children.retain(|b, c| {
                key.push(*b);
                go(c, key, f, is_empty);
                key.pop();
                !(is_empty(&c.value) && c.children.is_empty())
            });
        }
        go(&mut self.root, &mut Vec::new(), &mut f, is_empty);
    }

    /// Removes the nodes along `key` that hold nothing and lead nowhere.
    pub(crate) fn prune(&mut self, key: &[u8], is_empty: impl Fn(&V) -> bool + Copy) {
        fn go<V>(n: &mut Node<V>, key: &[u8], is_empty: impl Fn(&V) -> bool + Copy) {
            if let Some((b, rest)) = key.split_first() {
                if let Some(c) = n.children.get_mut(b) {
                    go(c, rest, is_empty);
                    if is_empty(&c.value) && c.children.is_empty() {
                        n.children.remove(b);
                    }
                }
            }
        }
        go(&mut self.root, key, is_empty);
    }
}

/// The topics a SUB/XSUB subscribed to, counted as libzmq counts them: two subscribes of
/// one topic need two unsubscribes.
#[derive(Debug, Default)]
pub(crate) struct LocalSubs {
    trie: Trie<u32>,
    topics: usize,
}

impl LocalSubs {
    /// Adds one reference; true when the topic is new.
    pub(crate) fn add(&mut self, topic: &[u8]) -> bool {
        let c = self.trie.entry(topic);
        *c += 1;
        if *c == 1 {
            self.topics += 1;
            true
        } else {
            false
        }
    }

    /// Drops one reference; true when the last one went (the topic is gone).
    pub(crate) fn remove(&mut self, topic: &[u8]) -> bool {
        let Some(c) = self.trie.get_mut(topic) else {
            return false;
        };
        if *c == 0 {
            return false;
        }
        *c -= 1;
        if *c == 0 {
            self.topics -= 1;
            self.trie.prune(topic, |c| *c == 0);
            true
        } else {
            false
        }
    }

    /// Whether a message whose first frame is `data` matches a subscription.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.trie.any_prefix(data, |c| *c > 0)
    }

    /// Every subscribed topic (for replay to a new connection).
    pub(crate) fn topics(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::with_capacity(self.topics);
        self.trie.walk(|k, c| {
            if *c > 0 {
                v.push(k.to_vec());
            }
        });
        v
    }
}

/// The subscriptions of a PUB/XPUB's peers: each topic holds the set of peers subscribed
/// (a set, as libzmq's mtrie: a repeated subscribe from one peer is not counted).
#[derive(Debug, Default)]
pub(crate) struct RemoteSubs {
    trie: Trie<Vec<u64>>,
}

impl RemoteSubs {
    /// Subscribes `peer`; returns (added for this peer, topic was unsubscribed before).
    pub(crate) fn add(&mut self, topic: &[u8], peer: u64) -> (bool, bool) {
        let set = self.trie.entry(topic);
        let was_empty = set.is_empty();
        if set.contains(&peer) {
            return (false, false);
        }
        set.push(peer);
        (true, was_empty)
    }

    /// Unsubscribes `peer`; returns (removed, topic has no subscriber left).
    pub(crate) fn remove(&mut self, topic: &[u8], peer: u64) -> (bool, bool) {
        let Some(set) = self.trie.get_mut(topic) else {
            return (false, false);
        };
        let Some(pos) = set.iter().position(|p| *p == peer) else {
            return (false, false);
        };
        set.swap_remove(pos);
        let now_empty = set.is_empty();
        if now_empty {
            self.trie.prune(topic, |s| s.is_empty());
        }
        (true, now_empty)
    }

    /// Removes every subscription of `peer`; calls `gone` for each topic left without any
    /// subscriber.
    pub(crate) fn remove_peer(&mut self, peer: u64, mut gone: impl FnMut(&[u8])) {
        self.trie.walk_mut(
            |s| s.is_empty(),
            |k, s| {
                if let Some(pos) = s.iter().position(|p| *p == peer) {
                    s.swap_remove(pos);
                    if s.is_empty() {
                        gone(k);
                    }
                }
            },
        );
    }

    /// Collects the peers subscribed to a prefix of `data` into `out` (sorted, no
    /// duplicates).
    pub(crate) fn matching(&self, data: &[u8], out: &mut Vec<u64>) {
        out.clear();
        self.trie
            .for_each_prefix(data, |s| out.extend_from_slice(s));
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_counts_and_matches() {
        let mut s = LocalSubs::default();
        assert!(!s.matches(b"abc"));
        assert!(s.add(b"ab"));
        assert!(!s.add(b"ab"));
        assert!(s.matches(b"abc") && s.matches(b"ab") && !s.matches(b"a"));
        assert!(!s.remove(b"ab"), "two subscribes need two unsubscribes");
        assert!(s.matches(b"abc"));
        assert!(s.remove(b"ab"));
        assert!(!s.matches(b"abc"));
        assert!(!s.remove(b"ab"));
        s.add(b"");
        assert!(s.matches(b"anything") && s.matches(b""));
        assert_eq!(s.topics(), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn remote_sets_and_matching() {
        let mut r = RemoteSubs::default();
        assert_eq!(r.add(b"a", 1), (true, true));
        assert_eq!(r.add(b"a", 1), (false, false));
        assert_eq!(r.add(b"ab", 2), (true, true));
        assert_eq!(r.add(b"", 3), (true, true));
        let mut out = Vec::new();
        r.matching(b"abc", &mut out);
        assert_eq!(out, vec![1, 2, 3]);
        r.matching(b"b", &mut out);
        assert_eq!(out, vec![3]);
        assert_eq!(r.remove(b"a", 1), (true, true));
        assert_eq!(r.remove(b"a", 1), (false, false));
        let mut gone = Vec::new();
        r.remove_peer(2, |t| gone.push(t.to_vec()));
        assert_eq!(gone, vec![b"ab".to_vec()]);
        r.matching(b"abc", &mut out);
        assert_eq!(out, vec![3]);
    }
}
