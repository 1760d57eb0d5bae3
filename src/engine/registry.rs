//! The `inproc://` registry: names bound in this process, and connects waiting for a bind.
//!
//! libzmq scopes inproc names to a context; this crate has no context object, so the
//! namespace is the process. Binding a name twice is `EADDRINUSE`; connecting before the
//! bind is allowed and completes when the bind happens (in either order, as libzmq).

use crate::plane::Shared;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A bound inproc endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub shared: Weak<Shared>,
    /// Cancelled by unbind/close: every pipe through this binding ends.
    pub token: CancellationToken,
}

impl Binding {
    fn live(&self) -> Option<(Arc<Shared>, CancellationToken)> {
        let s = self.shared.upgrade()?;
        if self.token.is_cancelled() || s.closing.is_cancelled() {
            return None;
        }
        Some((s, self.token.clone()))
    }
}

#[derive(Debug, Default)]
struct Entry {
    bound: Option<Binding>,
    /// Woken on every bind of the name.
    bind_notify: Arc<Notify>,
}

fn registry() -> &'static Mutex<HashMap<String, Entry>> {
    static REG: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Registers `name`; false when it is bound by a live socket already.
pub(crate) fn bind(name: &str, binding: Binding) -> bool {
    let mut reg = registry().lock().unwrap();
    let entry = reg.entry(name.to_string()).or_default();
    if entry.bound.as_ref().and_then(Binding::live).is_some() {
        return false;
    }
    entry.bound = Some(binding);
    entry.bind_notify.notify_waiters();
    true
}

/// Removes `name` if it is bound with `token`.
pub(crate) fn unbind(name: &str, token: &CancellationToken) {
    let mut reg = registry().lock().unwrap();
    if let Some(e) = reg.get_mut(name) {
        if e.bound.as_ref().is_some_and(|b| b.token == *token) {
            e.bound = None;
        }
    }
}

/// Waits until `name` is bound by a live socket; `None` when `cancel` fires first.
pub(crate) async fn wait_bound(
    name: &str,
    cancel: &CancellationToken,
) -> Option<(Arc<Shared>, CancellationToken)> {
    loop {
        let notify = {
            let mut reg = registry().lock().unwrap();
            let entry = reg.entry(name.to_string()).or_default();
            if let Some(live) = entry.bound.as_ref().and_then(Binding::live) {
                return Some(live);
            }
            entry.bind_notify.clone()
        };
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Re-check after registering for the wake-up, so a bind in between is not missed.
        {
            let reg = registry().lock().unwrap();
            if let Some(live) = reg
                .get(name)
                .and_then(|e| e.bound.as_ref())
                .and_then(Binding::live)
            {
                return Some(live);
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = cancel.cancelled() => return None,
        }
    }
}
