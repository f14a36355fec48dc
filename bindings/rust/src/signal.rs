//! Subscriptions: follow signal groups, read the change feed, wait in a
//! blocking call, an iterator, or an event loop through a pollable fd.
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::raw::c_char;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{check, Error, Result};
use crate::store::{Inner, Store};
use crate::sys;

const ENOENT: i32 = -2;
const ETIMEDOUT: i32 = -110;

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Written (value, metadata or vector).
    Changed,
    /// Unset.
    Deleted,
    /// spl_bump on the key.
    Bumped,
    /// spl_signal: no key.
    Signal,
    /// The slot has moved on since: the key is no longer known (rescan).
    Unknown,
}

/// One change from the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key (None for Signal and Unknown).
    pub key: Option<Vec<u8>>,
    /// The slot's epoch after the change (0 for Signal).
    pub epoch: u64,
    /// The subscribed groups it pulsed.
    pub groups: u64,
    pub seq: u64,
    pub slot: Option<u32>,
}

impl Event {
    /// The key as text, if any and UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

/// Follows a set of signal groups (spl_sub_*).  `Send`, used by one thread
/// at a time; keeps its store open; closed on drop.
///
/// - [`Subscription::wait`]: block until a group pulses;
/// - [`Subscription::next_event`]: the next change from the feed;
/// - [`Subscription::events`]: a blocking iterator of both;
/// - [`Subscription::fd`]: a descriptor that polls readable when a group
///   pulses (epoll, mio, tokio's `AsyncFd`); [`Subscription::ack`] re-arms it.
pub struct Subscription {
    _store: Arc<Inner>,
    ptr: NonNull<sys::spl_sub>,
    key: Vec<u8>,
    groups: u64,
}

// SAFETY: a subscription belongs to its process and is used by one thread at
// a time (&mut self on every call that touches its state); moving it is fine.
unsafe impl Send for Subscription {}

impl Drop for Subscription {
    fn drop(&mut self) {
        // SAFETY: ours; the store is kept alive by _store.
        unsafe { sys::spl_sub_close(self.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("groups", &format_args!("{:#x}", self.groups))
            .finish()
    }
}

fn ns(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => -1,
        Some(d) => d.as_nanos().min(i64::MAX as u128) as i64,
    }
}

impl Subscription {
    pub(crate) fn open(store: &Store, groups: u64) -> Result<Subscription> {
        let mut p = ptr::null_mut();
        // SAFETY: a live handle and an out pointer.
        check(unsafe { sys::spl_sub_open(store.as_ptr(), groups, &mut p) })?;
        Ok(Subscription {
            _store: store.inner.clone(),
            ptr: NonNull::new(p).ok_or(Error::Invalid)?,
            key: vec![0u8; store.key_max() as usize + 1],
            groups,
        })
    }

    /// The groups followed.
    pub fn groups(&self) -> u64 {
        self.groups
    }

    /// Block until a subscribed group pulses (since the last wait): the
    /// groups that moved, or `None` on timeout (`None`: wait for ever).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<u64>> {
        let mut fired = 0u64;
        // SAFETY: ours, exclusive.
        match unsafe { sys::spl_sub_wait(self.ptr.as_ptr(), ns(timeout), &mut fired) } {
            ETIMEDOUT => Ok(None),
            rc => check(rc).map(|_| Some(fired)),
        }
    }

    /// The group's counter as this subscription last saw it.
    pub fn seen(&self, group: u32) -> Result<u64> {
        let mut n = 0u64;
        check(unsafe { sys::spl_sub_seen(self.ptr.as_ptr(), group, &mut n) }).map(|_| n)
    }

    /// The next change, `None` if nothing new; [`Error::Overflow`] when
    /// events were lost (rescan with [`Store::for_each`]; reading goes on).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        let mut ev = sys::spl_event::default();
        // SAFETY: key buffer of key_max + 1 bytes.
        let rc = unsafe {
            sys::spl_sub_next(
                self.ptr.as_ptr(),
                &mut ev,
                self.key.as_mut_ptr() as *mut c_char,
                self.key.len(),
            )
        };
        if rc == ENOENT {
            return Ok(None);
        }
        check(rc)?;
        let kind = match ev.kind {
            sys::SPL_EV_CHANGED => EventKind::Changed,
            sys::SPL_EV_DELETED => EventKind::Deleted,
            sys::SPL_EV_BUMPED => EventKind::Bumped,
            sys::SPL_EV_SIGNAL => EventKind::Signal,
            _ => EventKind::Unknown,
        };
        let key = match kind {
            EventKind::Signal | EventKind::Unknown => None,
            _ => Some(self.key[..ev.key_len.min(self.key.len())].to_vec()),
        };
        let slot = if ev.slot == sys::SPL_EV_NOSLOT {
            None
        } else {
            Some(ev.slot)
        };
        Ok(Some(Event {
            kind,
            key,
            epoch: ev.epoch,
            groups: ev.groups,
            seq: ev.seq,
            slot,
        }))
    }

    /// Events as they come, blocking in between (no polling); the iterator
    /// ends after `idle` without any (`None`: never).  Lost events show as
    /// an `Err(Error::Overflow)` item, and iteration goes on.
    pub fn events(&mut self, idle: Option<Duration>) -> Events<'_> {
        Events { sub: self, idle }
    }

    /// The pollable descriptor (an eventfd the subscription owns; a helper
    /// thread of this process feeds it).  Readable when a group pulses:
    /// then [`Subscription::ack`] and read [`Subscription::next_event`]
    /// until `None`.
    pub fn fd(&self) -> Result<BorrowedFd<'_>> {
        let fd = check(unsafe { sys::spl_sub_fd(self.ptr.as_ptr()) })?;
        // SAFETY: owned by the subscription, open while it lives.
        Ok(unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// Re-arm the descriptor after it polled readable.
    pub fn ack(&self) -> Result<()> {
        let fd = self.fd()?.as_raw_fd();
        let mut b = [0u8; 8];
        // SAFETY: reading 8 bytes from our non-blocking eventfd.
        let _ = unsafe { libc_read(fd, b.as_mut_ptr(), 8) };
        Ok(())
    }
}

extern "C" {
    #[link_name = "read"]
    fn libc_read(fd: RawFd, buf: *mut u8, n: usize) -> isize;
}

/// The iterator of [`Subscription::events`].
#[derive(Debug)]
pub struct Events<'a> {
    sub: &'a mut Subscription,
    idle: Option<Duration>,
}

impl Iterator for Events<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        let deadline = self.idle.map(|d| Instant::now() + d);
        loop {
            match self.sub.next_event() {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    Some(d - now)
                }
            };
            match self.sub.wait(left) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    // timed out: anything published meanwhile first
                    return match self.sub.next_event() {
                        Ok(Some(ev)) => Some(Ok(ev)),
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    };
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
