//! Splinter for Rust: lock-free, zero-copy key-value and vector storage in
//! shared memory, over libsplinter (the C library; one implementation of
//! the protocol).
//!
//! ```no_run
//! use splinter::{Options, Store};
//! let st = Store::create("demo", &Options::new().slots(1024).vec_dim(0))?;
//! st.set("greeting", b"hello")?;
//! assert_eq!(st.get("greeting")?.as_deref(), Some(&b"hello"[..]));
//! let mut sub = st.watch_keys(&["greeting"], 0)?;
//! for ev in sub.events(Some(std::time::Duration::from_millis(10))) { println!("{:?}", ev?); }
//! # Ok::<(), splinter::Error>(())
//! ```
//!
//! - [`Store`]: `Send + Sync`, cheap to clone (one handle, closed when the
//!   last clone, view and subscription are gone).
//! - Contention waits by default ([`Wait`], 1 s): get/set/unset use the C
//!   `*_wait` calls, the rest retry SPL_EAGAIN with the same wait
//!   (spl_retry_pause: asleep on the busy slot until its writer commits);
//!   [`Store::nowait`] gives a handle that returns [`Error::Again`] instead.
//! - Absent keys are `Option::None` (or `Ok(false)` for unset/exists), not
//!   errors.
//! - [`View`]: zero-copy, borrows the store; validate after reading.
//! - [`Subscription`]: blocking wait, an event iterator, a pollable fd.
//! - [`sys`]: the raw C declarations.
#![warn(missing_debug_implementations)]

pub mod error;
mod signal;
mod store;
pub mod sys;
mod vec;

pub use error::{Error, Result};
pub use signal::{Event, EventKind, Events, Subscription};
pub use store::{
    fd_recv, fd_send, vec_simd, vec_simd_force, AsKey, Backing, Entry, EntryRef, Filter, HugePages,
    Info, IntOp, Key, Meta, NumaMode, Options, Prepared, Store, Type, VecFormat, View, Wait,
};
pub use vec::{Hit, Metric, Query, SearchResult};

/// The crate's version, which follows the C library's (SPL_VERSION_*).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The library's name for any code (spl_err_name): "SPL_EAGAIN", or
/// "SPL_E?" for an unknown one.
pub fn err_name(code: i32) -> &'static str {
    // SAFETY: a static string, never NULL.
    unsafe { std::ffi::CStr::from_ptr(sys::spl_err_name(code)) }
        .to_str()
        .unwrap_or("SPL_E?")
}
