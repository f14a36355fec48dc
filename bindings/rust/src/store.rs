//! The safe store handle.
use std::ffi::{CStr, OsStr};
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{check, Error, Result};
use crate::sys;

const EAGAIN: c_int = -11;
const ENOENT: c_int = -2;
const ENOBUFS: c_int = -105;
const ENOVEC: c_int = -1018;
const ETIMEDOUT: c_int = -110;
const ESTALE: c_int = -1010;

/// What an operation does when another writer holds the slot it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Return [`Error::Again`] at once.
    No,
    /// Wait for up to this long (the `*_wait` calls of the C library where
    /// it has them, a retry loop paused by spl_retry_pause otherwise: the
    /// same wait, asleep on the busy slot until its writer commits), then
    /// [`Error::Again`].
    For(Duration),
}

impl Default for Wait {
    /// One second.
    fn default() -> Wait {
        Wait::For(Duration::from_secs(1))
    }
}

impl Wait {
    fn micros(self) -> u32 {
        match self {
            Wait::No => 0,
            Wait::For(d) => d.as_micros().min(u32::MAX as u128) as u32,
        }
    }
}

/// Where a store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A name with '/' is a FILE, else SHM.
    Auto = 0,
    /// Named, in tmpfs, in a private per-user directory.
    Shm = 1,
    /// A file at a path (persistent; [`Store::flush`]).
    File = 2,
    /// Anonymous; share by fork or [`fd_send`].
    Memfd = 3,
}

impl Backing {
    fn from_u32(v: u32) -> Backing {
        match v {
            1 => Backing::Shm,
            2 => Backing::File,
            3 => Backing::Memfd,
            _ => Backing::Auto,
        }
    }
}

/// How vectors are kept (callers always pass and get f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VecFormat {
    F32 = 0,
    F16 = 1,
    I8 = 2,
}

/// NUMA placement of a new store's memory (spl_numa_mode; docs/PLACEMENT.md).
/// Any mode but `Default` needs a `WITH_NUMA=1` build of the library
/// ([`Error::NotSup`] otherwise); a node that does not exist or is not
/// allowed here is [`Error::NoNode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumaMode {
    /// No policy: the OS default (usually first touch).
    Default = sys::SPL_NUMA_DEFAULT as isize,
    /// Only on the given nodes.
    Bind = sys::SPL_NUMA_BIND as isize,
    /// Page by page round-robin over the given nodes.
    Interleave = sys::SPL_NUMA_INTERLEAVE as isize,
    /// On the one given node while it has room.
    Preferred = sys::SPL_NUMA_PREFERRED as isize,
    /// On the node of the CPU that first touches a page.
    Local = sys::SPL_NUMA_LOCAL as isize,
}

impl NumaMode {
    /// The mode for a C value; `None` for -1 (unknown) or a value this
    /// binding does not know.
    pub fn from_i32(v: i32) -> Option<NumaMode> {
        use NumaMode::*;
        [Default, Bind, Interleave, Preferred, Local]
            .into_iter()
            .find(|m| *m as i32 == v)
    }
}

/// Huge pages for a new store (spl_options.huge_pages; docs/PLACEMENT.md).
/// A shortage is [`Error::NoHuge`] at creation, never a SIGBUS later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugePages {
    /// Normal pages.
    Off,
    /// Huge pages of the system's default size.
    Default,
    /// Huge pages of this size in bytes (a power of two, >= 64 KiB).
    Size(u32),
}

/// A value's type tag (spl_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Void,
    Int64,
    UInt64,
    Json,
    Binary,
    Image,
    Audio,
    Text,
    /// A tag this binding does not know.
    Other(u8),
}

impl Type {
    pub fn from_u8(v: u8) -> Type {
        match v {
            0 => Type::Void,
            1 => Type::Int64,
            2 => Type::UInt64,
            3 => Type::Json,
            4 => Type::Binary,
            5 => Type::Image,
            6 => Type::Audio,
            7 => Type::Text,
            o => Type::Other(o),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            Type::Void => 0,
            Type::Int64 => 1,
            Type::UInt64 => 2,
            Type::Json => 3,
            Type::Binary => 4,
            Type::Image => 5,
            Type::Audio => 6,
            Type::Text => 7,
            Type::Other(o) => o,
        }
    }

    /// The library's name ("int64", ...; "?" if unknown).
    pub fn name(self) -> &'static str {
        // SAFETY: a static string, never NULL.
        unsafe { CStr::from_ptr(sys::spl_type_name(self.to_u8() as u32)) }
            .to_str()
            .unwrap_or("?")
    }

    /// Parse a name ("text", "int64", ...).
    pub fn parse(name: &str) -> Result<Type> {
        let c = std::ffi::CString::new(name).map_err(|_| Error::Invalid)?;
        // SAFETY: c is NUL-terminated.
        let v = check(unsafe { sys::spl_type_parse(c.as_ptr()) })?;
        Ok(Type::from_u8(v as u8))
    }
}

/// In-place integer operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOp {
    Add = 0,
    And = 1,
    Or = 2,
    Xor = 3,
    Not = 4,
}

/// Options for create and open (spl_options); starts from the library's
/// defaults (spl_options_init: default geometry, vec_dim 768 in an
/// embeddings build).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    raw: sys::spl_options,
}

impl Default for Options {
    fn default() -> Options {
        Options::new()
    }
}

impl Options {
    pub fn new() -> Options {
        let mut raw = sys::spl_options::default();
        // SAFETY: fills the struct.
        unsafe { sys::spl_options_init(&mut raw) };
        Options { raw }
    }
    pub fn backing(mut self, b: Backing) -> Self {
        self.raw.backing = b as u32;
        self
    }
    pub fn slots(mut self, n: u32) -> Self {
        self.raw.geom.slots = n;
        self
    }
    pub fn key_max(mut self, n: u32) -> Self {
        self.raw.geom.key_max = n;
        self
    }
    pub fn val_max(mut self, n: u32) -> Self {
        self.raw.geom.val_max = n;
        self
    }
    /// Floats per vector; 0 = no vectors.
    pub fn vec_dim(mut self, n: u32) -> Self {
        self.raw.geom.vec_dim = n;
        self
    }
    pub fn vec_format(mut self, f: VecFormat) -> Self {
        self.raw.vec_format = f as u32;
        self
    }
    /// Change-feed entries (a power of two; 0 = default).
    pub fn feed_len(mut self, n: u32) -> Self {
        self.raw.feed_len = n;
        self
    }
    /// File mode at create (0 = 0600).
    pub fn mode(mut self, m: u32) -> Self {
        self.raw.mode = m;
        self
    }
    pub fn tandem_sep(mut self, c: u8) -> Self {
        self.raw.tandem_sep = c as u32;
        self
    }
    /// Create: vector cells, 1..slots (0 = one per slot).  Once every cell
    /// holds a vector, a vector set on a key that has none is
    /// [`Error::NoCell`].  open_or_create: 0 = whatever the store has,
    /// another count is [`Error::Geometry`]; open ignores it.
    pub fn vec_cells(mut self, n: u32) -> Self {
        self.raw.vec_cells = n;
        self
    }
    /// Create: NUMA policy and its nodes, a mask (bit n = node n, nodes
    /// 0..63): one or more for `Bind` and `Interleave`, exactly one for
    /// `Preferred`, 0 for `Default` and `Local`.
    pub fn numa(mut self, mode: NumaMode, nodes: u64) -> Self {
        self.raw.numa_mode = mode as u32;
        self.raw.numa_nodes = nodes;
        self
    }
    /// Create: huge pages (memfd; SHM and FILE stores must be on hugetlbfs).
    pub fn huge_pages(mut self, h: HugePages) -> Self {
        self.raw.huge_pages = match h {
            HugePages::Off => 0,
            HugePages::Default => sys::SPL_HUGE_DEFAULT,
            HugePages::Size(n) => n,
        };
        self
    }
    pub fn read_only(self, on: bool) -> Self {
        self.flag(sys::SPL_O_RDONLY, on)
    }
    /// Group-shared (0660) store.
    pub fn group(self, on: bool) -> Self {
        self.flag(sys::SPL_O_GROUP, on)
    }
    /// Open: don't wait for a store being created.
    pub fn nowait(self, on: bool) -> Self {
        self.flag(sys::SPL_O_NOWAIT, on)
    }
    fn flag(mut self, f: u32, on: bool) -> Self {
        if on {
            self.raw.flags |= f
        } else {
            self.raw.flags &= !f
        }
        self
    }
    pub fn as_raw(&self) -> &sys::spl_options {
        &self.raw
    }
}

/// A key's metadata (a consistent snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub epoch: u64,
    pub labels: u64,
    pub ctime_ns: u64,
    pub mtime_ns: u64,
    pub atime_ns: u64,
    pub val_len: u32,
    pub slot: u32,
    pub value_type: Type,
    pub user_flags: u8,
    pub watch: u64,
}

impl From<&sys::spl_meta> for Meta {
    fn from(m: &sys::spl_meta) -> Meta {
        Meta {
            epoch: m.epoch,
            labels: m.labels,
            ctime_ns: m.ctime_ns,
            mtime_ns: m.mtime_ns,
            atime_ns: m.atime_ns,
            val_len: m.val_len,
            slot: m.slot,
            value_type: Type::from_u8(m.type_),
            user_flags: m.user_flags,
            watch: m.watch,
        }
    }
}

/// Geometry, usage, memory and placement (spl_info).
#[derive(Debug, Clone, Copy)]
pub struct Info {
    pub slots: u32,
    pub key_max: u32,
    pub val_max: u32,
    pub vec_dim: u32,
    pub backing: Backing,
    /// Longest probe sequence an insert may use.
    pub probe_max: u32,
    /// Bytes per slot.
    pub slot_stride: u32,
    /// Size of the mapping.
    pub region_bytes: u64,
    /// Live keys (approximate while writers run).
    pub used: u64,
    /// used / slots.
    pub load: f64,
    /// Slots recovered from dead writers.
    pub recoveries: u64,
    /// Store-wide change counter: mutations so far.
    pub changes: u64,
    /// Longest probe distance any home needs now (0 = the home word).
    pub probe_longest: u32,
    /// Mean of that distance over homes with keys.
    pub probe_mean: f64,
    /// SPL_FEAT_* of the store.
    pub features: u64,
    pub read_only: bool,
    /// Bytes per vector cell (0: no vectors).
    pub cell_stride: u32,
    /// Vector cells used so far, high-water mark (a search reads this many).
    pub cells_high: u32,
    /// Keys the store holds at most (= slots).
    pub capacity: u64,
    /// Slots holding no key.
    pub free: u64,
    /// Hash index size (a power of two >= 2 x slots).
    pub index_words: u32,
    /// Undo records: writers overwriting at once.
    pub undo_recs: u32,
    /// Page size of the mapping: the huge page size on hugetlbfs, else
    /// the base page.
    pub page_bytes: u64,
    /// Node mask of `numa_mode` (bit n = node n).
    pub numa_nodes: u64,
    /// The memory policy of this process's mapping; `None` where unknown
    /// (a build without NUMA, or a policy with no [`NumaMode`] name).
    pub numa_mode: Option<NumaMode>,
    /// Pages asked about (every page, or up to 4096 spread over the
    /// region); 0 in a build without NUMA.
    pub numa_sampled: u32,
    /// Of those, pages with no memory yet (never written) or swapped out.
    pub numa_absent: u32,
    /// Of those, pages on node n.
    pub numa_pages: [u32; sys::SPL_NUMA_NODES_MAX as usize],
    /// Names this store: fixed at creation, never 0, the same through
    /// every handle (and in a byte copy of the file).
    pub store_id: u64,
    /// Vector cells of the store (0: no vectors).
    pub cells: u32,
    /// Of those, cells holding a vector now.
    pub cells_used: u32,
    /// Bytes of the region in memory (pages any process has touched).
    pub resident_bytes: u64,
    /// Everything the library reported.
    pub raw: sys::spl_info,
}

impl From<&sys::spl_info> for Info {
    fn from(i: &sys::spl_info) -> Info {
        Info {
            slots: i.geom.slots,
            key_max: i.geom.key_max,
            val_max: i.geom.val_max,
            vec_dim: i.geom.vec_dim,
            backing: Backing::from_u32(i.backing),
            probe_max: i.probe_max,
            slot_stride: i.slot_stride,
            region_bytes: i.region_bytes,
            used: i.used,
            load: i.load,
            recoveries: i.recoveries,
            changes: i.changes,
            probe_longest: i.probe_longest,
            probe_mean: i.probe_mean,
            features: i.features,
            read_only: i.read_only != 0,
            cell_stride: i.cell_stride,
            cells_high: i.cells_high,
            capacity: i.capacity,
            free: i.free,
            index_words: i.index_words,
            undo_recs: i.undo_recs,
            page_bytes: i.page_bytes,
            numa_nodes: i.numa_nodes,
            numa_mode: NumaMode::from_i32(i.numa_mode),
            numa_sampled: i.numa_sampled,
            numa_absent: i.numa_absent,
            numa_pages: i.numa_pages,
            store_id: i.store_id,
            cells: i.cells,
            cells_used: i.cells_used,
            resident_bytes: i.resident_bytes,
            raw: *i,
        }
    }
}

/// A filter for [`Store::for_each`] / [`Store::entries`] (spl_filter).
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Keys starting with these bytes.
    pub prefix: Option<&'a str>,
    /// fnmatch(3) pattern.
    pub glob: Option<&'a str>,
    /// Label bits the key must carry (all of them, or any with `any_labels`); 0 = any.
    pub labels: u64,
    pub any_labels: bool,
    /// Copy values into the entries.
    pub values: bool,
}

/// One key seen by [`Store::for_each`]: copies the library made for the
/// callback, valid during it.
#[derive(Debug)]
pub struct EntryRef<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
    pub meta: Meta,
}

/// An owned entry ([`Store::entries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub meta: Meta,
}

impl Entry {
    /// The key as text, if it is UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

pub(crate) struct Inner {
    pub(crate) ptr: NonNull<sys::spl_store>,
    pub(crate) key_max: u32,
    pub(crate) val_max: u32,
    pub(crate) vec_dim: u32,
    pub(crate) slots: u32,
}

// SAFETY: the C contract: a handle may be used from any number of threads at
// once.  spl_close runs once, in Drop, when no other reference is left.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the last reference; subscriptions and views hold one.
        unsafe { sys::spl_close(self.ptr.as_ptr()) }
    }
}

/// An open store.  `Clone` shares the handle (closed when the last clone,
/// view and subscription are gone); each clone carries its own [`Wait`]
/// policy.  `Send + Sync`: use it from any number of threads.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    /// inner.ptr, copied here: one load less on every call.
    ptr: NonNull<sys::spl_store>,
    wait: Wait,
}

// SAFETY: ptr is inner's handle, which is Send + Sync (the C contract).
unsafe impl Send for Store {}
unsafe impl Sync for Store {}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("slots", &self.inner.slots)
            .field("key_max", &self.inner.key_max)
            .field("val_max", &self.inner.val_max)
            .field("vec_dim", &self.inner.vec_dim)
            .field("wait", &self.wait)
            .finish()
    }
}

/// Anything usable as a key: `str`, `String`, `[u8]`, `Vec<u8>`, byte
/// arrays (copied to a NUL-terminated buffer on the stack for each call), and
/// `CStr`, `CString` or a prepared [`Key`] (passed as they are: no copy, the
/// fastest way to use a key many times).  A NUL inside a key is
/// [`Error::Invalid`] (it would cut the key short).
pub trait AsKey {
    /// Call f with the key as a NUL-terminated C string.
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R>;
}

impl<T: AsKey + ?Sized> AsKey for &T {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        (**self).with_c_key(f)
    }
}

impl AsKey for [u8] {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        with_key(self, f)
    }
}

impl<const N: usize> AsKey for [u8; N] {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        with_key(self, f)
    }
}

impl AsKey for Vec<u8> {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        with_key(self, f)
    }
}

impl AsKey for str {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        with_key(self.as_bytes(), f)
    }
}

impl AsKey for String {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        with_key(self.as_bytes(), f)
    }
}

impl AsKey for CStr {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        Ok(f(self.as_ptr()))
    }
}

impl AsKey for std::ffi::CString {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        Ok(f(self.as_ptr()))
    }
}

/// A key checked and NUL-terminated once, for keys used many times.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(std::ffi::CString);

impl Key {
    /// [`Error::Invalid`] if the bytes hold a NUL.
    pub fn new(key: impl AsRef<[u8]>) -> Result<Key> {
        std::ffi::CString::new(key.as_ref())
            .map(Key)
            .map_err(|_| Error::Invalid)
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl AsKey for Key {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        Ok(f(self.0.as_ptr()))
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Key {
    /// Measure and hash this key for `store` ([`Store::prepare`]; the key is
    /// copied into the [`Prepared`]).
    pub fn prepare<'s>(&self, store: &'s Store) -> Result<Prepared<'s>> {
        store.prepare_key(self.clone())
    }
}

/// A key measured and hashed once for one store (spl_key_prep): its calls
/// skip the hashing.  It owns the key's bytes and borrows the store; it
/// works only with that store (any handle of it), and [`Store::get_many`] /
/// [`Store::set_many`] of another store refuse it with [`Error::Invalid`].
/// It is also an [`AsKey`] (its plain key) for any store's other calls.
pub struct Prepared<'s> {
    store: &'s Store,
    key: Key,
    k: sys::spl_key,
}

// SAFETY: k.key points into `key`'s heap buffer, owned and never changed.
unsafe impl Send for Prepared<'_> {}
unsafe impl Sync for Prepared<'_> {}

impl std::fmt::Debug for Prepared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("key", &self.key)
            .field("home", &self.k.home)
            .finish()
    }
}

impl AsKey for Prepared<'_> {
    #[inline(always)]
    fn with_c_key<R>(&self, f: impl FnOnce(*const c_char) -> R) -> Result<R> {
        Ok(f(self.k.key))
    }
}

impl<'s> Prepared<'s> {
    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The store it was prepared for.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    fn raw(&self) -> *const sys::spl_key {
        &self.k
    }

    /// Like [`Store::get_into`] (spl_get_k).
    pub fn get_into(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        let st = self.store;
        let mut len = 0usize;
        let (bp, cap) = (buf.as_mut_ptr() as *mut c_void, buf.len());
        // SAFETY: buf writable for cap bytes; k valid while self lives.
        let rc = st.retry(self.k.key, false, || unsafe {
            sys::spl_get_k(st.p(), self.raw(), bp, cap, &mut len)
        });
        match rc {
            0 => Ok(Some(len)),
            ENOENT => Ok(None),
            rc => Err(Error::from_code(rc)),
        }
    }

    /// Like [`Store::get`] (spl_get_k).
    pub fn get(&self) -> Result<Option<Vec<u8>>> {
        self.store.get_k(&self.k)
    }

    /// Like [`Store::set`] (spl_set_k).
    pub fn set(&self, val: impl AsRef<[u8]>) -> Result<()> {
        let st = self.store;
        let v = val.as_ref();
        // SAFETY: v readable for its length.
        let rc = st.retry(self.k.key, true, || unsafe {
            sys::spl_set_k(st.p(), self.raw(), v.as_ptr() as *const c_void, v.len())
        });
        check(rc).map(|_| ())
    }

    /// Like [`Store::unset`] (spl_unset_k): `Ok(false)` if absent.
    pub fn unset(&self) -> Result<bool> {
        let st = self.store;
        let rc = st.retry(self.k.key, true, || unsafe {
            sys::spl_unset_k(st.p(), self.raw())
        });
        match rc {
            ENOENT => Ok(false),
            rc => check(rc).map(|_| true),
        }
    }

    /// Like [`Store::add`] (spl_int_wait_k for the handle's wait time;
    /// [`Wait::No`] is 0, no wait): the new value.
    pub fn add(&self, delta: i64) -> Result<i64> {
        let st = self.store;
        let mut u = 0u64;
        // SAFETY: a live handle, a prepared key of it, an out value.
        let rc = unsafe {
            sys::spl_int_wait_k(
                st.p(),
                self.raw(),
                IntOp::Add as u32,
                delta as u64,
                &mut u,
                st.wait.micros(),
            )
        };
        check(rc).map(|_| u as i64)
    }
}

/// Run f with key as a NUL-terminated C string (on the stack when short).
#[inline(always)]
fn with_key<R>(key: &[u8], f: impl FnOnce(*const c_char) -> R) -> Result<R> {
    const N: usize = 120;
    if key.len() < N {
        let mut buf = MaybeUninit::<[u8; N]>::uninit();
        let p = buf.as_mut_ptr() as *mut u8;
        // SAFETY: key.len() + 1 <= N bytes written, all of them read by C.
        unsafe {
            ptr::copy_nonoverlapping(key.as_ptr(), p, key.len());
            *p.add(key.len()) = 0;
        }
        if key.contains(&0) {
            return Err(Error::Invalid); // a NUL would cut the key short
        }
        Ok(f(p as *const c_char))
    } else {
        if key.contains(&0) {
            return Err(Error::Invalid);
        }
        let mut v = Vec::with_capacity(key.len() + 1);
        v.extend_from_slice(key);
        v.push(0);
        Ok(f(v.as_ptr() as *const c_char))
    }
}

fn c_name(name: Option<&OsStr>) -> Result<Option<std::ffi::CString>> {
    match name {
        None => Ok(None),
        Some(n) => std::ffi::CString::new(n.as_bytes())
            .map(Some)
            .map_err(|_| Error::Name),
    }
}

fn ns(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => -1,
        Some(d) => d.as_nanos().min(i64::MAX as u128) as i64,
    }
}

impl Store {
    fn make(ptr: *mut sys::spl_store) -> Result<Store> {
        let ptr = NonNull::new(ptr).ok_or(Error::Invalid)?;
        let mut i = sys::spl_info::default();
        // SAFETY: a live handle and an out struct.
        let rc = unsafe {
            sys::spl_info_get_n(ptr.as_ptr(), &mut i, std::mem::size_of::<sys::spl_info>())
        };
        if rc < 0 {
            // SAFETY: not shared yet.
            unsafe { sys::spl_close(ptr.as_ptr()) };
            return Err(Error::from_code(rc));
        }
        Ok(Store {
            ptr,
            inner: Arc::new(Inner {
                ptr,
                key_max: i.geom.key_max,
                val_max: i.geom.val_max,
                vec_dim: i.geom.vec_dim,
                slots: i.geom.slots,
            }),
            wait: Wait::default(),
        })
    }

    fn open_with(
        f: unsafe extern "C" fn(
            *mut *mut sys::spl_store,
            *const c_char,
            *const sys::spl_options,
        ) -> c_int,
        name: Option<&OsStr>,
        opt: &Options,
    ) -> Result<Store> {
        let c = c_name(name)?;
        let mut p = ptr::null_mut();
        // SAFETY: out pointer, optional NUL-terminated name, options struct.
        check(unsafe {
            f(
                &mut p,
                c.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
                opt.as_raw(),
            )
        })?;
        Store::make(p)
    }

    /// Create a new store: a plain name (SHM), a path (FILE), or with
    /// [`Backing::Memfd`] an anonymous one (see [`Store::memfd`]).
    pub fn create(name: impl AsRef<OsStr>, opt: &Options) -> Result<Store> {
        Store::open_with(sys::spl_create, Some(name.as_ref()), opt)
    }

    /// Create an anonymous store (memfd), shared by fork or [`fd_send`].
    pub fn memfd(opt: &Options) -> Result<Store> {
        Store::open_with(sys::spl_create, None, &opt.backing(Backing::Memfd))
    }

    /// Open an existing store.
    pub fn open(name: impl AsRef<OsStr>, opt: &Options) -> Result<Store> {
        Store::open_with(sys::spl_open, Some(name.as_ref()), opt)
    }

    /// Open, or create with `opt`'s geometry if absent ([`Error::Geometry`]
    /// if it exists with another non-zero geometry field).
    pub fn open_or_create(name: impl AsRef<OsStr>, opt: &Options) -> Result<Store> {
        Store::open_with(sys::spl_open_or_create, Some(name.as_ref()), opt)
    }

    /// Attach to a store by descriptor (duplicated; the caller keeps its own).
    pub fn open_fd(fd: impl AsFd, read_only: bool) -> Result<Store> {
        let mut p = ptr::null_mut();
        let flags = if read_only { sys::SPL_O_RDONLY } else { 0 };
        // SAFETY: out pointer and a descriptor.
        check(unsafe { sys::spl_open_fd(&mut p, fd.as_fd().as_raw_fd(), flags) })?;
        Store::make(p)
    }

    /// Unlink a named store (mapped handles stay valid).  `Ok(false)` if
    /// there was none.
    pub fn destroy(name: impl AsRef<OsStr>, opt: &Options) -> Result<bool> {
        let c = c_name(Some(name.as_ref()))?.unwrap();
        // SAFETY: NUL-terminated name, options.
        match unsafe { sys::spl_destroy(c.as_ptr(), opt.as_raw()) } {
            ENOENT => Ok(false),
            rc => check(rc).map(|_| true),
        }
    }

    /// The raw handle, for calls into [`crate::sys`].  Valid while `self` lives.
    pub fn as_ptr(&self) -> *mut sys::spl_store {
        self.ptr.as_ptr()
    }

    #[inline(always)]
    fn p(&self) -> *mut sys::spl_store {
        self.ptr.as_ptr()
    }

    /// This handle's contention policy.
    pub fn wait_policy(&self) -> Wait {
        self.wait
    }

    /// A clone of the handle with another contention policy.
    pub fn with_wait(&self, wait: Wait) -> Store {
        Store {
            inner: self.inner.clone(),
            ptr: self.ptr,
            wait,
        }
    }

    /// A clone that returns [`Error::Again`] instead of waiting.
    pub fn nowait(&self) -> Store {
        self.with_wait(Wait::No)
    }

    /// Set this handle's contention policy.
    pub fn set_wait(&mut self, wait: Wait) {
        self.wait = wait;
    }

    pub fn slots(&self) -> u32 {
        self.inner.slots
    }
    pub fn key_max(&self) -> u32 {
        self.inner.key_max
    }
    pub fn val_max(&self) -> u32 {
        self.inner.val_max
    }
    pub fn vec_dim(&self) -> u32 {
        self.inner.vec_dim
    }

    pub fn info(&self) -> Result<Info> {
        let mut i = sys::spl_info::default();
        // SAFETY: a live handle and an out struct.
        check(unsafe {
            sys::spl_info_get_n(self.p(), &mut i, std::mem::size_of::<sys::spl_info>())
        })?;
        Ok(Info::from(&i))
    }

    /// msync the region (FILE backing).
    pub fn flush(&self) -> Result<()> {
        // SAFETY: a live handle.
        check(unsafe { sys::spl_flush(self.p()) }).map(|_| ())
    }

    /// Call f, a call on `key` (NUL-terminated and alive across the
    /// retries; null for a call with no one key); retry SPL_EAGAIN under
    /// this handle's policy.  `write`: f writes the key (else it only reads
    /// it).  The first try pays nothing more than the call.
    #[inline]
    fn retry(&self, key: *const c_char, write: bool, mut f: impl FnMut() -> c_int) -> c_int {
        let rc = f();
        if rc != EAGAIN {
            return rc;
        }
        self.retry_slow(key, write, &mut f)
    }

    /// The retries: spl_retry_pause between tries waits as the `*_wait`
    /// calls do (spin, yield, then asleep on the key's busy slot until its
    /// writer commits, a dead writer recovered) until the handle's wait time
    /// has passed, then SPL_EAGAIN.
    #[cold]
    fn retry_slow(&self, key: *const c_char, write: bool, f: &mut dyn FnMut() -> c_int) -> c_int {
        let Wait::For(_) = self.wait else {
            return EAGAIN;
        };
        let mut r = sys::spl_retry::default();
        // SAFETY: r is this loop's own state, used in this thread only.
        unsafe { sys::spl_retry_init(&mut r, self.wait.micros()) };
        loop {
            // SAFETY: a live handle; key NUL-terminated (or null), alive
            // while f is retried; r initialised above.
            if unsafe { sys::spl_retry_pause(self.p(), key, write as c_int, &mut r) } != 0 {
                return EAGAIN;
            }
            let rc = f();
            if rc != EAGAIN {
                return rc;
            }
        }
    }

    // ------------------------------------------------------------ key-value

    /// Copy the value into `buf`: `Ok(Some(len))`, `Ok(None)` if the key is
    /// absent, [`Error::NoBufs`] if `buf` is too small (see [`Store::meta`]).
    #[inline]
    pub fn get_into(&self, key: impl AsKey, buf: &mut [u8]) -> Result<Option<usize>> {
        let mut len = 0usize;
        let (bp, cap) = (buf.as_mut_ptr() as *mut c_void, buf.len());
        // One try with spl_get, then spl_get_wait under the policy: the same
        // as calling spl_get_wait, without its clock read on the fast path.
        let rc = key.with_c_key(|k| unsafe {
            // SAFETY: buf is writable for cap bytes; key NUL-terminated.
            let rc = sys::spl_get(self.p(), k, bp, cap, &mut len);
            match (rc, self.wait) {
                (EAGAIN, Wait::For(_)) => {
                    sys::spl_get_wait(self.p(), k, bp, cap, &mut len, self.wait.micros())
                }
                _ => rc,
            }
        })?;
        match rc {
            0 => Ok(Some(len)),
            ENOENT => Ok(None),
            rc => Err(Error::from_code(rc)),
        }
    }

    /// The value, or `None` if the key is absent.
    pub fn get(&self, key: impl AsKey) -> Result<Option<Vec<u8>>> {
        let mut cap = 256.min(self.inner.val_max as usize);
        loop {
            let mut v: Vec<u8> = Vec::with_capacity(cap);
            let mut len = 0usize;
            let vp = v.as_mut_ptr() as *mut c_void;
            let rc = key.with_c_key(|k| unsafe {
                // SAFETY: v has cap writable bytes; len is set to what was written.
                let rc = sys::spl_get(self.p(), k, vp, cap, &mut len);
                match (rc, self.wait) {
                    (EAGAIN, Wait::For(_)) => {
                        sys::spl_get_wait(self.p(), k, vp, cap, &mut len, self.wait.micros())
                    }
                    _ => rc,
                }
            })?;
            match rc {
                0 => {
                    // SAFETY: the library wrote len <= cap bytes.
                    unsafe { v.set_len(len.min(cap)) };
                    return Ok(Some(v));
                }
                ENOENT => return Ok(None),
                ENOBUFS => cap = len.max(cap + 1),
                rc => return Err(Error::from_code(rc)),
            }
        }
    }

    /// Insert or overwrite (an overwrite keeps type, flags and labels).
    #[inline]
    pub fn set(&self, key: impl AsKey, val: impl AsRef<[u8]>) -> Result<()> {
        let val = val.as_ref();
        let (vp, n) = (val.as_ptr() as *const c_void, val.len());
        let rc = key.with_c_key(|k| unsafe {
            // SAFETY: val readable for n bytes.  One try, then spl_set_wait.
            let rc = sys::spl_set(self.p(), k, vp, n);
            match (rc, self.wait) {
                (EAGAIN, Wait::For(_)) => sys::spl_set_wait(self.p(), k, vp, n, self.wait.micros()),
                _ => rc,
            }
        })?;
        check(rc).map(|_| ())
    }

    /// Delete: `Ok(true)` if the key was there, `Ok(false)` if absent.
    pub fn unset(&self, key: impl AsKey) -> Result<bool> {
        let rc = key.with_c_key(|k| unsafe {
            let rc = sys::spl_unset(self.p(), k);
            match (rc, self.wait) {
                (EAGAIN, Wait::For(_)) => sys::spl_unset_wait(self.p(), k, self.wait.micros()),
                _ => rc,
            }
        })?;
        match rc {
            ENOENT => Ok(false),
            rc => check(rc).map(|_| true),
        }
    }

    pub fn exists(&self, key: impl AsKey) -> Result<bool> {
        let rc =
            key.with_c_key(|k| self.retry(k, false, || unsafe { sys::spl_exists(self.p(), k) }))?;
        check(rc).map(|r| r == 1)
    }

    /// Append (creating the key if absent); [`Error::TooBig`] past val_max.
    pub fn append(&self, key: impl AsKey, data: impl AsRef<[u8]>) -> Result<()> {
        let d = data.as_ref();
        let rc = key.with_c_key(|k| {
            self.retry(k, true, || unsafe {
                sys::spl_append(self.p(), k, d.as_ptr() as *const c_void, d.len())
            })
        })?;
        check(rc).map(|_| ())
    }

    /// Write only if the key's epoch is still `expected` (0: create only if
    /// absent).  [`Error::Stale`], [`Error::Exists`], [`Error::NotFound`].
    pub fn cas(&self, key: impl AsKey, expected: u64, val: impl AsRef<[u8]>) -> Result<()> {
        let v = val.as_ref();
        let rc = key.with_c_key(|k| {
            self.retry(k, true, || unsafe {
                sys::spl_cas(self.p(), k, expected, v.as_ptr() as *const c_void, v.len())
            })
        })?;
        check(rc).map(|_| ())
    }

    // ------------------------------------------------------------ prepared keys, batches

    /// Measure and hash `key` once for this store (spl_key_prep); see
    /// [`Prepared`].  [`Error::Invalid`] for a NUL in the key,
    /// [`Error::KeyLen`] past key_max.
    pub fn prepare(&self, key: impl AsRef<[u8]>) -> Result<Prepared<'_>> {
        self.prepare_key(Key::new(key)?)
    }

    /// spl_get_k into a Vec grown to fit, EAGAIN retried under the policy.
    fn get_k(&self, k: &sys::spl_key) -> Result<Option<Vec<u8>>> {
        let mut cap = 256.min(self.inner.val_max as usize);
        loop {
            let mut v: Vec<u8> = Vec::with_capacity(cap);
            let mut len = 0usize;
            let vp = v.as_mut_ptr() as *mut c_void;
            // SAFETY: v has cap writable bytes; k's string is alive (the caller's).
            let rc = self.retry(k.key, false, || unsafe {
                sys::spl_get_k(self.p(), k, vp, cap, &mut len)
            });
            match rc {
                0 => {
                    // SAFETY: the library wrote len <= cap bytes.
                    unsafe { v.set_len(len.min(cap)) };
                    return Ok(Some(v));
                }
                ENOENT => return Ok(None),
                ENOBUFS => cap = len.max(cap + 1),
                rc => return Err(Error::from_code(rc)),
            }
        }
    }

    fn prepare_key(&self, key: Key) -> Result<Prepared<'_>> {
        let mut k = MaybeUninit::<sys::spl_key>::zeroed();
        // SAFETY: key's C string lives in the Prepared, its heap buffer unmoved.
        check(unsafe { sys::spl_key_prep(self.p(), key.0.as_ptr(), k.as_mut_ptr()) })?;
        // SAFETY: filled by spl_key_prep (and zeroed before).
        Ok(Prepared {
            store: self,
            key,
            k: unsafe { k.assume_init() },
        })
    }

    /// The values of `keys` in one spl_get_many (the lookups overlapped), in
    /// order: `Ok(None)` for an absent key, `Err(Error::Invalid)` for a key
    /// prepared for another store.  Values longer than 256 bytes and keys
    /// busy under a writer are fetched again one by one.
    pub fn get_many(&self, keys: &[&Prepared<'_>]) -> Vec<Result<Option<Vec<u8>>>> {
        let n = keys.len();
        if n == 0 {
            return Vec::new();
        }
        let stride = 256.min(self.inner.val_max as usize).max(1);
        let arr: Vec<sys::spl_key> = keys.iter().map(|k| k.k).collect();
        let mut bufs = vec![0u8; n * stride];
        let mut lens = vec![0usize; n];
        let mut rcs = vec![0 as c_int; n];
        // SAFETY: arr's keys point into `keys` (alive); the buffers hold n entries.
        let rc = unsafe {
            sys::spl_get_many(
                self.p(),
                arr.as_ptr(),
                n,
                bufs.as_mut_ptr() as *mut c_void,
                stride,
                lens.as_mut_ptr(),
                rcs.as_mut_ptr(),
            )
        };
        if rc < 0 {
            return (0..n).map(|_| Err(Error::from_code(rc))).collect();
        }
        (0..n)
            .map(|i| match rcs[i] {
                0 => Ok(Some(
                    bufs[i * stride..i * stride + lens[i].min(stride)].to_vec(),
                )),
                ENOENT => Ok(None),
                ENOBUFS | EAGAIN => self.get_k(&arr[i]),
                rc => Err(Error::from_code(rc)),
            })
            .collect()
    }

    /// Write `(key, value)` pairs in one spl_set_many (each write atomic on
    /// its own); one result per pair, in order.  Keys busy under a writer
    /// are retried one by one under this handle's [`Wait`] policy.
    pub fn set_many<V: AsRef<[u8]>>(&self, items: &[(&Prepared<'_>, V)]) -> Vec<Result<()>> {
        let n = items.len();
        if n == 0 {
            return Vec::new();
        }
        let stride = items
            .iter()
            .map(|(_, v)| v.as_ref().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let arr: Vec<sys::spl_key> = items.iter().map(|(k, _)| k.k).collect();
        let mut vals = vec![0u8; n * stride];
        let mut lens = vec![0usize; n];
        for (i, (_, v)) in items.iter().enumerate() {
            let v = v.as_ref();
            vals[i * stride..i * stride + v.len()].copy_from_slice(v);
            lens[i] = v.len();
        }
        let mut rcs = vec![0 as c_int; n];
        // SAFETY: as in get_many; vals holds n values of stride bytes.
        let rc = unsafe {
            sys::spl_set_many(
                self.p(),
                arr.as_ptr(),
                n,
                vals.as_ptr() as *const c_void,
                stride,
                lens.as_ptr(),
                rcs.as_mut_ptr(),
            )
        };
        if rc < 0 {
            return (0..n).map(|_| Err(Error::from_code(rc))).collect();
        }
        (0..n)
            .map(|i| match rcs[i] {
                EAGAIN => {
                    let v = &vals[i * stride..i * stride + lens[i]];
                    // SAFETY: arr[i]'s string lives in items.
                    check(self.retry(arr[i].key, true, || unsafe {
                        sys::spl_set_k(self.p(), &arr[i], v.as_ptr() as *const c_void, v.len())
                    }))
                    .map(|_| ())
                }
                rc => check(rc).map(|_| ()),
            })
            .collect()
    }

    // ------------------------------------------------------------ typed helpers

    /// An 8-byte little-endian integer value, or `None` if absent;
    /// [`Error::Type`] if the value is not 8 bytes.
    pub fn get_int(&self, key: impl AsKey) -> Result<Option<i64>> {
        let mut b = [0u8; 8];
        match self.get_into(key, &mut b) {
            Ok(Some(8)) => Ok(Some(i64::from_le_bytes(b))),
            Ok(Some(_)) | Err(Error::NoBufs) => Err(Error::Type),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Store an int64 and type it INT64 (so [`Store::add`] works on it).  A new
    /// key is typed by a second call right after the write.
    pub fn set_int(&self, key: impl AsKey, v: i64) -> Result<()> {
        self.set(&key, v.to_le_bytes())?;
        if self.meta(&key)?.map(|m| m.value_type) != Some(Type::Int64) {
            self.set_type(&key, Type::Int64)?;
        }
        Ok(())
    }

    /// The value as UTF-8 text ([`Error::Type`] if it is not).
    pub fn get_str(&self, key: impl AsKey) -> Result<Option<String>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => String::from_utf8(v).map(Some).map_err(|_| Error::Type),
        }
    }

    /// Store text and type it TEXT (a second call, as for set_int).
    pub fn set_str(&self, key: impl AsKey, v: &str) -> Result<()> {
        self.set(&key, v)?;
        if self.meta(&key)?.map(|m| m.value_type) != Some(Type::Text) {
            self.set_type(&key, Type::Text)?;
        }
        Ok(())
    }

    /// Apply op in place on an 8-byte INT64/UINT64 value (a missing key is
    /// created as INT64 0); the new value.  Never loses an update.  A busy
    /// slot is waited for up to the handle's [`Wait`] time (spl_int_wait:
    /// asleep on the slot, a dead writer recovered), then [`Error::Again`],
    /// nothing changed; with [`Wait::No`] (a wait of 0), at once.  `add`,
    /// `inc` and `dec` likewise.
    pub fn int_op(&self, key: impl AsKey, op: IntOp, operand: u64) -> Result<u64> {
        let mut out = 0u64;
        let rc = key.with_c_key(|k| {
            // SAFETY: a live handle, a NUL-terminated key, an out value.
            unsafe {
                sys::spl_int_wait(
                    self.p(),
                    k,
                    op as u32,
                    operand,
                    &mut out,
                    self.wait.micros(),
                )
            }
        })?;
        check(rc).map(|_| out)
    }

    pub fn add(&self, key: impl AsKey, delta: i64) -> Result<i64> {
        self.int_op(key, IntOp::Add, delta as u64).map(|v| v as i64)
    }

    pub fn inc(&self, key: impl AsKey) -> Result<i64> {
        self.int_op(key, IntOp::Add, 1).map(|v| v as i64)
    }

    pub fn dec(&self, key: impl AsKey) -> Result<i64> {
        self.int_op(key, IntOp::Add, u64::MAX).map(|v| v as i64)
    }

    // ------------------------------------------------------------ metadata

    /// The key's metadata, or `None` if absent.
    pub fn meta(&self, key: impl AsKey) -> Result<Option<Meta>> {
        let mut m = sys::spl_meta::default();
        let rc = key.with_c_key(|k| {
            self.retry(k, false, || unsafe {
                sys::spl_meta_get(self.p(), k, &mut m)
            })
        })?;
        match rc {
            ENOENT => Ok(None),
            rc => check(rc).map(|_| Some(Meta::from(&m))),
        }
    }

    fn write_op(&self, key: &impl AsKey, f: impl Fn(*const c_char) -> c_int) -> Result<()> {
        let rc = key.with_c_key(|k| self.retry(k, true, || f(k)))?;
        check(rc).map(|_| ())
    }

    pub fn set_type(&self, key: impl AsKey, t: Type) -> Result<()> {
        self.write_op(&key, |k| unsafe {
            sys::spl_type_set(self.p(), k, t.to_u8() as u32)
        })
    }

    pub fn set_flags(&self, key: impl AsKey, flags: u8) -> Result<()> {
        self.write_op(&key, |k| unsafe { sys::spl_flags_set(self.p(), k, flags) })
    }

    /// OR label bits in.
    pub fn set_labels(&self, key: impl AsKey, mask: u64) -> Result<()> {
        self.write_op(&key, |k| unsafe { sys::spl_labels_set(self.p(), k, mask) })
    }

    /// AND label bits out.
    pub fn clear_labels(&self, key: impl AsKey, mask: u64) -> Result<()> {
        self.write_op(&key, |k| unsafe {
            sys::spl_labels_clear(self.p(), k, mask)
        })
    }

    /// atime = now.
    pub fn touch(&self, key: impl AsKey) -> Result<()> {
        self.write_op(&key, |k| unsafe { sys::spl_touch(self.p(), k) })
    }

    // ------------------------------------------------------------ views

    /// A zero-copy [`View`] of the value where it lies, or `None` if absent.
    pub fn view(&self, key: impl AsKey) -> Result<Option<View<'_>>> {
        let mut v = MaybeUninit::<sys::spl_view>::zeroed();
        let rc = key.with_c_key(|k| {
            self.retry(k, false, || unsafe {
                sys::spl_view_get(self.p(), k, v.as_mut_ptr())
            })
        })?;
        match rc {
            ENOENT => Ok(None),
            // SAFETY: filled on success.
            rc => check(rc).map(|_| {
                Some(View {
                    store: self,
                    raw: unsafe { v.assume_init() },
                })
            }),
        }
    }

    /// Run `f` on the value in place inside the slot's seqlock (again if a
    /// writer interfered); `None` if the key is absent.
    ///
    /// # Safety
    /// The slice is shared memory that another process may write while `f`
    /// runs (the result is then thrown away and `f` runs again); Rust
    /// assumes a `&[u8]` does not change, so `f` must not rely on two reads
    /// agreeing (no index computed from one byte and checked against
    /// another).  `f` must be short and must not panic.
    pub unsafe fn read_with<R>(
        &self,
        key: impl AsKey,
        mut f: impl FnMut(&[u8]) -> R,
    ) -> Result<Option<R>> {
        struct Ud<'f, R> {
            f: &'f mut dyn FnMut(&[u8]) -> R,
            out: Option<R>,
        }
        unsafe extern "C" fn tramp<R>(data: *const c_void, len: usize, ud: *mut c_void) -> c_int {
            let ud = &mut *(ud as *mut Ud<'_, R>);
            let s = if len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(data as *const u8, len)
            };
            ud.out = Some((ud.f)(s));
            0
        }
        let mut ud = Ud {
            f: &mut f,
            out: None,
        };
        let udp = &mut ud as *mut Ud<'_, R> as *mut c_void;
        let rc = key.with_c_key(|k| {
            self.retry(k, false, || {
                sys::spl_read_with(self.p(), k, Some(tramp::<R>), udp)
            })
        })?;
        match rc {
            ENOENT => Ok(None),
            rc => check(rc).map(|_| ud.out),
        }
    }

    // ------------------------------------------------------------ iteration

    /// Visit every live key matching the filter, each read consistently.
    /// Return `ControlFlow::Break(())` to stop early.
    pub fn for_each(
        &self,
        filter: &Filter<'_>,
        mut f: impl FnMut(&EntryRef<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        let prefix = filter
            .prefix
            .map(|p| std::ffi::CString::new(p).map_err(|_| Error::Invalid))
            .transpose()?;
        let glob = filter
            .glob
            .map(|p| std::ffi::CString::new(p).map_err(|_| Error::Invalid))
            .transpose()?;
        let cf = sys::spl_filter {
            prefix: prefix.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            glob: glob.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            labels: filter.labels,
            flags: (if filter.values { sys::SPL_F_VALUES } else { 0 })
                | (if filter.any_labels {
                    sys::SPL_F_LABELS_ANY
                } else {
                    0
                }),
        };
        struct Ud<'f> {
            f: &'f mut dyn FnMut(&EntryRef<'_>) -> ControlFlow<()>,
            panic: Option<Box<dyn std::any::Any + Send>>,
        }
        unsafe extern "C" fn tramp(e: *const sys::spl_entry, ud: *mut c_void) -> c_int {
            let ud = &mut *(ud as *mut Ud<'_>);
            let e = &*e;
            let key = std::slice::from_raw_parts(e.key as *const u8, e.key_len);
            let value = if e.val.is_null() {
                None
            } else {
                Some(std::slice::from_raw_parts(
                    e.val as *const u8,
                    e.meta.val_len as usize,
                ))
            };
            let er = EntryRef {
                key,
                value,
                meta: Meta::from(&e.meta),
            };
            match catch_unwind(AssertUnwindSafe(|| (ud.f)(&er))) {
                Ok(ControlFlow::Continue(())) => 0,
                Ok(ControlFlow::Break(())) => 1,
                Err(p) => {
                    ud.panic = Some(p);
                    2
                }
            }
        }
        let mut ud = Ud {
            f: &mut f,
            panic: None,
        };
        // SAFETY: the filter's strings live until the call returns; the
        // callback's entry is valid during the callback (copies by the library).
        let rc = unsafe {
            sys::spl_foreach(
                self.p(),
                &cf,
                Some(tramp),
                &mut ud as *mut Ud<'_> as *mut c_void,
            )
        };
        if let Some(p) = ud.panic {
            resume_unwind(p);
        }
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(())
    }

    /// Every entry matching the filter, collected.
    pub fn entries(&self, filter: &Filter<'_>) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.for_each(filter, |e| {
            out.push(Entry {
                key: e.key.to_vec(),
                value: e.value.map(|v| v.to_vec()),
                meta: e.meta,
            });
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// Keys matching the filter.
    pub fn keys(&self, filter: &Filter<'_>) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.for_each(filter, |e| {
            out.push(e.key.to_vec());
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    // ------------------------------------------------------------ tandem keys

    /// Member i's key name (base, base.1, ...).
    pub fn tandem_key(&self, base: impl AsKey, i: u32) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.inner.key_max as usize + 1];
        let rc = base.with_c_key(|k| unsafe {
            sys::spl_tandem_key(self.p(), k, i, buf.as_mut_ptr() as *mut c_char, buf.len())
        })?;
        let n = check(rc)? as usize;
        buf.truncate(n);
        Ok(buf)
    }

    /// Write values as the group base, base.1, ... (not atomic as a group).
    pub fn tandem_set<V: AsRef<[u8]>>(&self, base: impl AsKey, values: &[V]) -> Result<()> {
        let ptrs: Vec<*const c_void> = values
            .iter()
            .map(|v| v.as_ref().as_ptr() as *const c_void)
            .collect();
        let lens: Vec<usize> = values.iter().map(|v| v.as_ref().len()).collect();
        let rc = base.with_c_key(|k| unsafe {
            sys::spl_tandem_set(
                self.p(),
                k,
                ptrs.as_ptr(),
                lens.as_ptr(),
                values.len() as u32,
                self.wait.micros(),
            )
        })?;
        check(rc).map(|_| ())
    }

    /// Member i's value, or `None`.
    pub fn tandem_get(&self, base: impl AsKey, i: u32) -> Result<Option<Vec<u8>>> {
        let mut len = 0usize;
        let rc = base.with_c_key(|k| unsafe {
            sys::spl_tandem_get(self.p(), k, i, ptr::null_mut(), 0, &mut len)
        })?;
        if rc == ENOENT {
            return Ok(None);
        }
        check(rc)?;
        let mut v = vec![0u8; len];
        let rc = base.with_c_key(|k| unsafe {
            sys::spl_tandem_get(
                self.p(),
                k,
                i,
                v.as_mut_ptr() as *mut c_void,
                v.len(),
                &mut len,
            )
        })?;
        match rc {
            ENOENT => Ok(None),
            rc => check(rc).map(|_| {
                v.truncate(len);
                Some(v)
            }),
        }
    }

    pub fn tandem_count(&self, base: impl AsKey) -> Result<u32> {
        let rc = base.with_c_key(|k| {
            self.retry(k, false, || unsafe { sys::spl_tandem_count(self.p(), k) })
        })?;
        check(rc).map(|n| n as u32)
    }

    /// Delete every member; how many were deleted.
    pub fn tandem_unset(&self, base: impl AsKey) -> Result<u32> {
        let rc =
            base.with_c_key(|k| unsafe { sys::spl_tandem_unset(self.p(), k, self.wait.micros()) })?;
        check(rc).map(|n| n as u32)
    }

    /// Vectors as a group: member i gets vecs[i] (each vec_dim floats).
    pub fn tandem_vec_set<V: AsRef<[f32]>>(&self, base: impl AsKey, vecs: &[V]) -> Result<()> {
        let dim = vecs.first().map_or(0, |v| v.as_ref().len());
        if vecs.iter().any(|v| v.as_ref().len() != dim) {
            return Err(Error::Dim);
        }
        let flat: Vec<f32> = vecs
            .iter()
            .flat_map(|v| v.as_ref().iter().copied())
            .collect();
        let rc = base.with_c_key(|k| unsafe {
            sys::spl_tandem_vec_set(
                self.p(),
                k,
                flat.as_ptr(),
                vecs.len() as u32,
                dim as u32,
                self.wait.micros(),
            )
        })?;
        check(rc).map(|_| ())
    }

    /// Member i's vector, or `None` (member absent or without a vector).
    pub fn tandem_vec_get(&self, base: impl AsKey, i: u32) -> Result<Option<Vec<f32>>> {
        let mut v = vec![0f32; self.inner.vec_dim as usize];
        let rc = base.with_c_key(|k| unsafe {
            sys::spl_tandem_vec_get(self.p(), k, i, v.as_mut_ptr(), v.len() as u32)
        })?;
        match rc {
            ENOENT | ENOVEC => Ok(None),
            rc => check(rc).map(|_| Some(v)),
        }
    }

    // ------------------------------------------------------------ signals

    /// OR groups into the key's watch mask.
    pub fn watch(&self, key: impl AsKey, groups: u64) -> Result<()> {
        self.write_op(&key, |k| unsafe { sys::spl_watch(self.p(), k, groups) })
    }

    /// AND groups out of the key's watch mask.
    pub fn unwatch(&self, key: impl AsKey, groups: u64) -> Result<()> {
        self.write_op(&key, |k| unsafe { sys::spl_unwatch(self.p(), k, groups) })
    }

    /// Keys carrying label `bit` pulse `groups`.
    pub fn bind(&self, bit: u32, groups: u64) -> Result<()> {
        check(unsafe { sys::spl_bind(self.p(), bit, groups) }).map(|_| ())
    }

    pub fn unbind(&self, bit: u32, groups: u64) -> Result<()> {
        check(unsafe { sys::spl_unbind(self.p(), bit, groups) }).map(|_| ())
    }

    /// The groups label `bit` pulses.
    pub fn bound(&self, bit: u32) -> Result<u64> {
        let mut g = 0u64;
        check(unsafe { sys::spl_bind_get(self.p(), bit, &mut g) }).map(|_| g)
    }

    /// Pulse the key's groups without writing it.
    pub fn bump(&self, key: impl AsKey) -> Result<()> {
        // a read of the key (its metadata), not a write
        let rc =
            key.with_c_key(|k| self.retry(k, false, || unsafe { sys::spl_bump(self.p(), k) }))?;
        check(rc).map(|_| ())
    }

    /// Pulse groups directly (an event with no key).
    pub fn signal(&self, groups: u64) -> Result<()> {
        check(unsafe { sys::spl_signal(self.p(), groups) }).map(|_| ())
    }

    /// A group's pulse counter.
    pub fn pulses(&self, group: u32) -> Result<u64> {
        let mut n = 0u64;
        check(unsafe { sys::spl_pulses(self.p(), group, &mut n) }).map(|_| n)
    }

    /// Sweep waiter records of dead processes; how many.
    pub fn signal_repair(&self) -> Result<u32> {
        check(unsafe { sys::spl_signal_repair(self.p()) }).map(|n| n as u32)
    }

    /// Block until the key's epoch moves past `epoch`: `Ok(Some(new))`,
    /// `Ok(None)` on timeout (`None` timeout: wait for ever),
    /// [`Error::NotFound`] if the key is absent or gets deleted.
    pub fn key_wait(
        &self,
        key: impl AsKey,
        epoch: u64,
        timeout: Option<Duration>,
    ) -> Result<Option<u64>> {
        let mut out = 0u64;
        let rc = key.with_c_key(|k| unsafe {
            sys::spl_key_wait(self.p(), k, epoch, ns(timeout), &mut out)
        })?;
        match rc {
            ETIMEDOUT => Ok(None),
            rc => check(rc).map(|_| Some(out)),
        }
    }

    /// Follow signal groups (a mask).
    pub fn subscribe(&self, groups: u64) -> Result<crate::Subscription> {
        crate::Subscription::open(self, groups)
    }

    /// Subscribe to `group` and add it to each key's watch mask: the
    /// subscription then sees every change of these keys (the masks stay
    /// after it closes: they belong to the keys).
    pub fn watch_keys<K: AsKey>(&self, keys: &[K], group: u32) -> Result<crate::Subscription> {
        if group >= sys::SPL_GROUPS {
            return Err(Error::Invalid);
        }
        let sub = self.subscribe(1u64 << group)?;
        for k in keys {
            self.watch(k, 1u64 << group)?;
        }
        Ok(sub)
    }

    // ------------------------------------------------------------ vectors

    /// Store a vector (vec_dim floats), creating the key if absent.
    pub fn vec_set(&self, key: impl AsKey, vec: &[f32]) -> Result<()> {
        self.write_op(&key, |k| unsafe {
            sys::spl_vec_set(self.p(), k, vec.as_ptr(), vec.len() as u32)
        })
    }

    /// The key's vector and the epoch it belongs to; `None` if the key is
    /// absent or holds no vector.
    pub fn vec_get(&self, key: impl AsKey) -> Result<Option<(Vec<f32>, u64)>> {
        let mut v = vec![0f32; self.inner.vec_dim as usize];
        let mut ep = 0u64;
        let rc = key.with_c_key(|k| {
            self.retry(k, false, || unsafe {
                sys::spl_vec_get(self.p(), k, v.as_mut_ptr(), v.len() as u32, &mut ep)
            })
        })?;
        match rc {
            ENOENT | ENOVEC => Ok(None),
            rc => check(rc).map(|_| Some((v, ep))),
        }
    }

    /// Remove the key's vector: `Ok(false)` if it had none (or is absent).
    pub fn vec_clear(&self, key: impl AsKey) -> Result<bool> {
        let rc =
            key.with_c_key(|k| self.retry(k, true, || unsafe { sys::spl_vec_clear(self.p(), k) }))?;
        match rc {
            ENOENT | ENOVEC => Ok(false),
            rc => check(rc).map(|_| true),
        }
    }

    /// Exact top-k search.
    pub fn vec_search(&self, q: &crate::Query<'_>) -> Result<crate::SearchResult> {
        crate::vec::search(self, q)
    }
}

impl AsFd for Store {
    /// The store's descriptor, open while the store is.
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: spl_fd of a live handle is open until spl_close, which
        // cannot run while self is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.as_raw_fd()) }
    }
}

impl AsRawFd for Store {
    /// The store's descriptor (valid while the store is open), e.g. for [`fd_send`].
    fn as_raw_fd(&self) -> RawFd {
        // SAFETY: a live handle.
        unsafe { sys::spl_fd(self.p()) }
    }
}

/// A zero-copy look at a value where it lies in the shared mapping.
///
/// It borrows the [`Store`], so the mapping outlives it.  The bytes may
/// change under the reader at any moment (no lock is held): read them, then
/// check [`View::is_valid`]; only `true` means what was read belongs to the
/// value at [`View::epoch`].  [`View::to_vec`] and [`View::copy_to`] copy and
/// check in one call; [`View::as_bytes`] hands out the bytes in place and is
/// `unsafe` because a `&[u8]` promises Rust they do not change.
pub struct View<'s> {
    store: &'s Store,
    raw: sys::spl_view,
}

impl<'s> View<'s> {
    pub fn len(&self) -> usize {
        self.raw.len
    }
    pub fn is_empty(&self) -> bool {
        self.raw.len == 0
    }
    /// The epoch the view was taken at.
    pub fn epoch(&self) -> u64 {
        self.raw.epoch
    }
    pub fn slot(&self) -> u32 {
        self.raw.slot
    }
    pub fn value_type(&self) -> Type {
        Type::from_u8(self.raw.type_)
    }
    /// Where the value lies (valid while the view lives).
    pub fn as_ptr(&self) -> *const u8 {
        self.raw.data as *const u8
    }

    /// The bytes in place.
    ///
    /// # Safety
    /// Another process may write them while the slice lives: read what you
    /// need, then call [`View::is_valid`] and discard it all unless `true`;
    /// never rely on two reads of the slice agreeing before that check.
    pub unsafe fn as_bytes(&self) -> &[u8] {
        if self.raw.len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(self.as_ptr(), self.raw.len)
    }

    /// Is the value still the one at [`View::epoch`] (spl_view_valid)?
    pub fn is_valid(&self) -> Result<bool> {
        // SAFETY: a live handle (borrowed) and the view it returned.
        match unsafe { sys::spl_view_valid(self.store.p(), &self.raw) } {
            0 => Ok(true),
            ESTALE => Ok(false),
            rc => Err(Error::from_code(rc)),
        }
    }

    /// [`Error::Stale`] unless [`View::is_valid`].
    pub fn validate(&self) -> Result<()> {
        if self.is_valid()? {
            Ok(())
        } else {
            Err(Error::Stale)
        }
    }

    /// Copy into `dst` (at least `len()` bytes), then validate: the length,
    /// or [`Error::Stale`] if a writer interfered, [`Error::NoBufs`] if
    /// `dst` is too short.
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<usize> {
        let n = self.raw.len;
        if dst.len() < n {
            return Err(Error::NoBufs);
        }
        // SAFETY: raw pointer copy out of the live mapping, no reference held
        // over the shared bytes; the copy is used only once validated.
        unsafe { ptr::copy_nonoverlapping(self.as_ptr(), dst.as_mut_ptr(), n) };
        self.validate().map(|_| n)
    }

    /// A validated copy of the bytes ([`Error::Stale`] if they moved).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.raw.len];
        self.copy_to(&mut v)?;
        Ok(v)
    }
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("len", &self.raw.len)
            .field("epoch", &self.raw.epoch)
            .finish()
    }
}

/// Pass a store descriptor over a connected AF_UNIX socket.
pub fn fd_send(sock: impl AsFd, fd: impl AsFd) -> Result<()> {
    check(unsafe { sys::spl_fd_send(sock.as_fd().as_raw_fd(), fd.as_fd().as_raw_fd()) }).map(|_| ())
}

/// Receive a store descriptor (open it with [`Store::open_fd`]).
pub fn fd_recv(sock: impl AsFd) -> Result<OwnedFd> {
    let mut fd: c_int = -1;
    check(unsafe { sys::spl_fd_recv(sock.as_fd().as_raw_fd(), &mut fd) })?;
    // SAFETY: a new descriptor the caller owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The SIMD path vector search uses ("avx2", ...).
pub fn vec_simd() -> &'static str {
    // SAFETY: a static string, never NULL.
    unsafe { CStr::from_ptr(sys::spl_vec_simd()) }
        .to_str()
        .unwrap_or("?")
}

/// Use the named SIMD path ([`Error::NotSup`] if unknown or not runnable).
pub fn vec_simd_force(name: &str) -> Result<()> {
    let c = std::ffi::CString::new(name).map_err(|_| Error::Invalid)?;
    check(unsafe { sys::spl_vec_simd_force(c.as_ptr()) }).map(|_| ())
}
