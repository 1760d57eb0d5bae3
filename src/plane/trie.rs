//! Prefix tries for subscriptions.
//!
//! Matching walks the message's topic bytes once from the root, so the cost per message is
//! the topic's length plus the matches, however many subscriptions exist.
//!
//! The trie is path-compressed (a radix trie): a node holds the run of bytes from its
//! parent, and every node but the root holds a value or branches. Subscriptions come from
//! peers, so memory must follow the input: a node per subscription (plus one per branch),
//! not a node per topic byte. For the same reason nothing here recurses over the trie's
//! depth: walks keep an explicit stack and dropping takes nodes apart one by one, so a
//! topic of any length (a command may carry a MiB) cannot exhaust a thread's stack.

/// A byte trie with a value at each key (`V::default()` where nothing is stored).
#[derive(Debug)]
pub(crate) struct Trie<V> {
    root: Node<V>,
}

#[derive(Debug)]
struct Node<V> {
    /// The bytes from the parent to this node (empty only for the root).
    label: Box<[u8]>,
    value: V,
    /// Sorted by the first byte of their labels, which differ.
    children: Vec<Node<V>>,
}

impl<V: Default> Node<V> {
    fn new(label: &[u8]) -> Self {
        Node {
            label: label.into(),
            value: V::default(),
            children: Vec::new(),
        }
    }

    /// The child whose label starts with `b`: `Ok(index)`, or `Err(insertion index)`.
    fn find(&self, b: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&b, |c| c.label[0])
    }

    /// Takes the only child's place: its bytes follow this node's, its value and children
    /// become this node's (for a node that holds nothing and leads one way).
    fn absorb_only_child(&mut self) {
        debug_assert_eq!(self.children.len(), 1);
        let c = self.children.pop().expect("one child");
        let mut label = Vec::with_capacity(self.label.len() + c.label.len());
        label.extend_from_slice(&self.label);
        label.extend_from_slice(&c.label);
        self.label = label.into();
        self.value = c.value;
        self.children = c.children;
    }
}

impl<V: Default> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            root: Node::new(b""),
        }
    }
}

impl<V> Drop for Trie<V> {
    /// Takes the nodes apart one by one: dropping them as nested values would recurse as
    /// deep as the trie is.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.root.children);
        while let Some(mut n) = stack.pop() {
            stack.append(&mut n.children);
        }
    }
}

/// Length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<V: Default> Trie<V> {
    /// The value at `key`, created on demand.
    pub(crate) fn entry(&mut self, key: &[u8]) -> &mut V {
        let mut n = &mut self.root;
        let mut rest = key;
        while !rest.is_empty() {
            let i = match n.find(rest[0]) {
                Ok(i) => i,
                Err(at) => {
                    n.children.insert(at, Node::new(rest));
                    return &mut n.children[at].value;
                }
            };
            let child = &mut n.children[i];
            let common = common_prefix(&child.label, rest);
            if common < child.label.len() {
                // `key` ends or turns inside the child's bytes: split them there.
                let tail = Node {
                    label: child.label[common..].into(),
                    value: std::mem::take(&mut child.value),
                    children: std::mem::take(&mut child.children),
                };
                child.label = child.label[..common].into();
                child.children.push(tail);
            }
            rest = &rest[common..];
            n = &mut n.children[i];
        }
        &mut n.value
    }

    /// The value at `key`, if the node exists.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let mut n = &mut self.root;
        let mut rest = key;
        while !rest.is_empty() {
            let i = n.find(rest[0]).ok()?;
            let c = &mut n.children[i];
            rest = rest.strip_prefix(&c.label[..])?;
            n = c;
        }
        Some(&mut n.value)
    }

    /// Calls `f` with the value of every node on the path of `data` (the root, for the
    /// empty prefix, included).
    pub(crate) fn for_each_prefix(&self, data: &[u8], mut f: impl FnMut(&V)) {
        let mut n = &self.root;
        let mut rest = data;
        f(&n.value);
        while let Some(&b) = rest.first() {
            let Ok(i) = n.find(b) else { return };
            let c = &n.children[i];
            let Some(r) = rest.strip_prefix(&c.label[..]) else {
                return;
            };
            rest = r;
            n = c;
            f(&n.value);
        }
    }

    /// Whether any prefix of `data` satisfies `pred`.
    pub(crate) fn any_prefix(&self, data: &[u8], pred: impl Fn(&V) -> bool) -> bool {
        let mut found = false;
        self.for_each_prefix(data, |v| found = found || pred(v));
        found
    }

    /// Visits every node with its key, in byte order.
    pub(crate) fn walk(&self, mut f: impl FnMut(&[u8], &V)) {
        let mut key = Vec::new();
        let mut stack: Vec<(&Node<V>, usize)> = vec![(&self.root, 0)];
        while let Some((n, depth)) = stack.pop() {
            key.truncate(depth);
            key.extend_from_slice(&n.label);
            f(&key, &n.value);
            stack.extend(n.children.iter().rev().map(|c| (c, key.len())));
        }
    }

    /// After the value at `key` was emptied: removes its node if it leads nowhere, and
    /// merges what then holds nothing and leads one way (that node, or its parent), so
    /// every node but the root keeps holding a value or branching.
    pub(crate) fn prune(&mut self, key: &[u8], is_empty: impl Fn(&V) -> bool) {
        let mut parent = &mut self.root;
        let mut parent_is_root = true;
        let mut rest = key;
        while let Some(&b) = rest.first() {
            let Ok(i) = parent.find(b) else { return };
            let Some(r) = rest.strip_prefix(&parent.children[i].label[..]) else {
                return;
            };
            if r.is_empty() {
                let node = &mut parent.children[i];
                if is_empty(&node.value) {
                    match node.children.len() {
                        0 => {
                            parent.children.remove(i);
                        }
                        1 => node.absorb_only_child(),
                        _ => {}
                    }
                }
                if !parent_is_root && is_empty(&parent.value) && parent.children.len() == 1 {
                    parent.absorb_only_child();
                }
                return;
            }
            rest = r;
            parent = &mut parent.children[i];
            parent_is_root = false;
        }
    }

    /// Number of nodes (the root included).
    #[cfg(test)]
    fn nodes(&self) -> usize {
        let mut n = 0;
        self.walk(|_, _| n += 1);
        n
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

    /// How many distinct topics are subscribed.
    pub(crate) fn count(&self) -> usize {
        self.topics
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
    /// Topics with at least one subscriber.
    topics: usize,
    /// ZMQ_TOPICS_COUNT as libzmq 4.3.5 keeps it: up when a topic gets its first
    /// subscriber, down when an unsubscribe takes its last, and unchanged when a peer's
    /// subscriptions go with its connection (libzmq's mtrie removes a pipe without
    /// touching its counter).
    counted: usize,
}

impl RemoteSubs {
    /// Subscribes `peer`; returns (added for this peer, topic was unsubscribed before).
    pub(crate) fn add(&mut self, topic: &[u8], peer: u64) -> (bool, bool) {
        let set = self.trie.entry(topic);
        let was_empty = set.is_empty();
        // Each set is kept sorted: a message matching one topic's set only takes it as it
        // is (see `matching`).
        let Err(pos) = set.binary_search(&peer) else {
            return (false, false);
        };
        set.insert(pos, peer);
        self.topics += was_empty as usize;
        self.counted += was_empty as usize;
        (true, was_empty)
    }

    /// Unsubscribes `peer`; returns (removed, topic has no subscriber left).
    pub(crate) fn remove(&mut self, topic: &[u8], peer: u64) -> (bool, bool) {
        let r = self.take(topic, peer);
        if r.1 {
            self.counted = self.counted.saturating_sub(1);
        }
        r
    }

    /// Removes `peer` from `topic`'s set (no change to `counted`); as [`RemoteSubs::remove`].
    fn take(&mut self, topic: &[u8], peer: u64) -> (bool, bool) {
        let Some(set) = self.trie.get_mut(topic) else {
            return (false, false);
        };
        let Ok(pos) = set.binary_search(&peer) else {
            return (false, false);
        };
        set.remove(pos);
        let now_empty = set.is_empty();
        if now_empty {
            self.topics -= 1;
            self.trie.prune(topic, |s| s.is_empty());
        }
        (true, now_empty)
    }

    /// Removes every subscription of `peer`; calls `gone` for each topic left without any
    /// subscriber (with `every`, for each of the peer's topics), in byte order.
    pub(crate) fn remove_peer(&mut self, peer: u64, every: bool, mut gone: impl FnMut(&[u8])) {
        let mut keys = Vec::new();
        self.trie.walk(|k, s| {
            if s.contains(&peer) {
                keys.push(k.to_vec());
            }
        });
        for k in keys {
            if let (true, last) = self.take(&k, peer) {
                if last || every {
                    gone(&k);
                }
            }
        }
    }

    /// How many distinct topics have a subscriber.
    pub(crate) fn topics(&self) -> usize {
        self.topics
    }

    /// ZMQ_TOPICS_COUNT as libzmq 4.3.5 reports it: topics that got a first subscriber
    /// minus unsubscribes that took a topic's last one. Above [`RemoteSubs::topics`] once
    /// a peer that held a topic alone disconnects.
    pub(crate) fn counted(&self) -> usize {
        self.counted
    }

    /// Collects the peers subscribed to a prefix of `data` into `out` (sorted, no
    /// duplicates).
    pub(crate) fn matching(&self, data: &[u8], out: &mut Vec<u64>) {
        out.clear();
        let mut sets = 0;
        self.trie.for_each_prefix(data, |s| {
            if !s.is_empty() {
                sets += 1;
                out.extend_from_slice(s);
            }
        });
        // One set is sorted and without duplicates already (the usual case: everyone on
        // the empty topic, or on one topic).
        if sets > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trie_splits_merges_and_stays_compressed() {
        let mut t: Trie<u32> = Trie::default();
        *t.entry(b"abcdef") = 1;
        assert_eq!(t.nodes(), 2, "one node per key, not per byte");
        *t.entry(b"abc") = 2; // ends inside a label: split
        *t.entry(b"abx") = 3; // turns inside a label: split with a branch node
        assert_eq!(t.nodes(), 5);
        let mut seen = Vec::new();
        t.for_each_prefix(b"abcdefg", |v| seen.push(*v));
        assert_eq!(seen, [0, 0, 2, 1], "root, the ab branch, abc, abcdef");
        let mut keys = Vec::new();
        t.walk(|k, v| {
            if *v > 0 {
                keys.push((k.to_vec(), *v));
            }
        });
        assert_eq!(
            keys,
            [
                (b"abc".to_vec(), 2),
                (b"abcdef".to_vec(), 1),
                (b"abx".to_vec(), 3)
            ]
        );
        // Removing abc merges it into abcdef; removing abx leaves ab leading one way,
        // which merges too.
        *t.get_mut(b"abc").unwrap() = 0;
        t.prune(b"abc", |v| *v == 0);
        *t.get_mut(b"abx").unwrap() = 0;
        t.prune(b"abx", |v| *v == 0);
        assert_eq!(t.nodes(), 2);
        assert_eq!(t.get_mut(b"abcdef").copied(), Some(1));
        assert!(t.get_mut(b"abc").is_none());
        assert!(t.get_mut(b"abcd").is_none());
        *t.get_mut(b"abcdef").unwrap() = 0;
        t.prune(b"abcdef", |v| *v == 0);
        assert_eq!(t.nodes(), 1);
    }

    #[test]
    fn a_trie_five_thousand_nodes_deep_is_walked_and_dropped_without_recursion() {
        // Every prefix of a topic subscribed: the deepest trie a peer can build for its
        // bytes. A recursive walk or drop overflows a test thread's stack at this depth
        // in a debug build.
        let mut r = RemoteSubs::default();
        let topic = vec![b'x'; 5000];
        for len in 0..=topic.len() {
            r.add(&topic[..len], 1);
        }
        let mut out = Vec::new();
        r.matching(&topic, &mut out);
        assert_eq!(out, vec![1]);
        let mut gone = 0;
        r.remove_peer(1, false, |_| gone += 1);
        assert_eq!(gone, 5001);
        assert_eq!(r.trie.nodes(), 1, "every node pruned");
        for len in 0..=topic.len() {
            r.add(&topic[..len], 2);
        }
        drop(r);
    }

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
    fn topics_are_counted_and_a_leaving_peer_reports_every_topic_on_request() {
        let mut r = RemoteSubs::default();
        r.add(b"a", 1);
        r.add(b"a", 2);
        r.add(b"b", 1);
        assert_eq!(r.topics(), 2);
        let mut gone = Vec::new();
        r.remove_peer(1, true, |t| gone.push(t.to_vec()));
        assert_eq!(
            gone,
            vec![b"a".to_vec(), b"b".to_vec()],
            "a is still held by 2"
        );
        assert_eq!(r.topics(), 1);
        assert_eq!(r.counted(), 2, "libzmq's count: b went with its peer");
        r.add(b"b", 3);
        assert_eq!((r.topics(), r.counted()), (2, 3), "b is new again");
        r.remove(b"b", 3);
        assert_eq!(
            (r.topics(), r.counted()),
            (1, 2),
            "an unsubscribe lowers both"
        );
        let mut l = LocalSubs::default();
        l.add(b"x");
        l.add(b"x");
        l.add(b"");
        assert_eq!(l.count(), 2);
        l.remove(b"x");
        assert_eq!(l.count(), 2);
        l.remove(b"x");
        assert_eq!(l.count(), 1);
    }

    #[test]
    fn one_topic_set_matches_sorted_after_adds_and_removes_in_any_order() {
        // `matching` takes a lone set as it is: it must stay sorted and without duplicates.
        let mut r = RemoteSubs::default();
        for peer in [7, 3, 9, 1, 5, 3, 8] {
            r.add(b"", peer);
        }
        assert_eq!(r.remove(b"", 9), (true, false));
        assert_eq!(r.remove(b"", 4), (false, false));
        r.add(b"", 4);
        let mut out = Vec::new();
        r.matching(b"anything", &mut out);
        assert_eq!(out, vec![1, 3, 4, 5, 7, 8]);
        // Two sets: merged, sorted, duplicates dropped.
        r.add(b"any", 2);
        r.add(b"any", 7);
        r.matching(b"anything", &mut out);
        assert_eq!(out, vec![1, 2, 3, 4, 5, 7, 8]);
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
        r.remove_peer(2, false, |t| gone.push(t.to_vec()));
        assert_eq!(gone, vec![b"ab".to_vec()]);
        r.matching(b"abc", &mut out);
        assert_eq!(out, vec![3]);
    }
}
