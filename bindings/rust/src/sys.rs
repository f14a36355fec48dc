//! Raw declarations of `include/splinter.h`: `extern "C"` functions and
//! `#[repr(C)]` structs, one to one.  C enums are passed as `u32` (a value
//! outside a Rust enum's range would be undefined behaviour).  Every struct
//! here is checked field by field against the C compiler's layout by
//! `tests/layout.rs`.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

pub const SPL_VERSION_MAJOR: u32 = 0;
pub const SPL_VERSION_MINOR: u32 = 1;
pub const SPL_VERSION_PATCH: u32 = 0;

pub const SPL_BACKING_AUTO: u32 = 0;
pub const SPL_BACKING_SHM: u32 = 1;
pub const SPL_BACKING_FILE: u32 = 2;
pub const SPL_BACKING_MEMFD: u32 = 3;

pub const SPL_O_RDONLY: u32 = 1 << 0;
pub const SPL_O_GROUP: u32 = 1 << 1;
pub const SPL_O_NOWAIT: u32 = 1 << 2;

pub const SPL_OPTIONS_VERSION: u32 = 3;
pub const SPL_HUGE_DEFAULT: u32 = 1;
pub const SPL_NUMA_NODES_MAX: u32 = 64;
pub const SPL_NUMA_DEFAULT: u32 = 0;
pub const SPL_NUMA_BIND: u32 = 1;
pub const SPL_NUMA_INTERLEAVE: u32 = 2;
pub const SPL_NUMA_PREFERRED: u32 = 3;
pub const SPL_NUMA_LOCAL: u32 = 4;
pub const SPL_FEAT_EMBEDDINGS: u64 = 1 << 0;
pub const SPL_F_VALUES: u32 = 1 << 0;
pub const SPL_F_LABELS_ANY: u32 = 1 << 1;
pub const SPL_VQ_SKIP_SELF: u32 = 1 << 8;
pub const SPL_VQ_ANN: u32 = 1 << 9;
pub const SPL_VR_ANN: u32 = 1 << 0;
pub const SPL_GROUPS: u32 = 64;
pub const SPL_EV_NOSLOT: u32 = 0xffff_ffff;
pub const SPL_VEC_K_LIMIT: u32 = 4096;
pub const SPL_KEY_MAX_LIMIT: u32 = 4096;

pub const SPL_EV_CHANGED: u32 = 1;
pub const SPL_EV_DELETED: u32 = 2;
pub const SPL_EV_BUMPED: u32 = 3;
pub const SPL_EV_SIGNAL: u32 = 4;
pub const SPL_EV_UNKNOWN: u32 = 5;

pub const SPL_OP_ADD: u32 = 0;
pub const SPL_OP_AND: u32 = 1;
pub const SPL_OP_OR: u32 = 2;
pub const SPL_OP_XOR: u32 = 3;
pub const SPL_OP_NOT: u32 = 4;

/// Opaque store handle.
#[repr(C)]
#[derive(Debug)]
pub struct spl_store {
    _private: [u8; 0],
}

/// Opaque subscription handle.
#[repr(C)]
#[derive(Debug)]
pub struct spl_sub {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct spl_geometry {
    pub slots: u32,
    pub key_max: u32,
    pub val_max: u32,
    pub vec_dim: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spl_options {
    pub version: u32,
    pub backing: u32,
    pub flags: u32,
    pub mode: u32,
    pub geom: spl_geometry,
    pub feed_len: u32,
    pub vec_format: u32,
    pub tandem_sep: u32,
    pub numa_mode: u32,
    pub huge_pages: u32,
    pub numa_nodes: u64,
    pub vec_cells: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_info {
    pub geom: spl_geometry,
    pub backing: u32,
    pub probe_max: u32,
    pub slot_stride: u32,
    pub region_bytes: u64,
    pub used: u64,
    pub load: f64,
    pub recoveries: u64,
    pub changes: u64,
    pub probe_longest: u32,
    pub probe_mean: f64,
    pub features: u64,
    pub read_only: c_int,
    pub cell_stride: u32,
    pub cells_high: u32,
    pub capacity: u64,
    pub free: u64,
    pub index_words: u32,
    pub undo_recs: u32,
    pub page_bytes: u64,
    pub numa_nodes: u64,
    pub numa_mode: i32,
    pub numa_sampled: u32,
    pub numa_absent: u32,
    pub numa_pages: [u32; SPL_NUMA_NODES_MAX as usize],
    pub store_id: u64,
    pub cells: u32,
    pub cells_used: u32,
    pub resident_bytes: u64,
}

impl Default for spl_info {
    fn default() -> Self {
        // all zero: plain integers and floats (derive(Default) stops at 32-element arrays)
        unsafe { std::mem::zeroed() }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct spl_meta {
    pub epoch: u64,
    pub labels: u64,
    pub ctime_ns: u64,
    pub mtime_ns: u64,
    pub atime_ns: u64,
    pub val_len: u32,
    pub slot: u32,
    pub type_: u8,
    pub user_flags: u8,
    pub watch: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_view {
    pub data: *const c_void,
    pub len: usize,
    pub epoch: u64,
    pub slot: u32,
    pub type_: u8,
}

/// The state of one retry loop (spl_retry_init, spl_retry_pause): opaque,
/// never read or set but by the library.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spl_retry {
    pub opaque: [u64; 6],
}

/// A key measured and hashed for one store (spl_key_prep); `key` points at
/// a string that must stay valid and unchanged while the key is used.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_key {
    pub key: *const c_char,
    pub len: u32,
    pub home: u32,
    pub fp: u64,
    pub seed: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_entry {
    pub key: *const c_char,
    pub key_len: usize,
    pub val: *const c_void,
    pub meta: spl_meta,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_filter {
    pub prefix: *const c_char,
    pub glob: *const c_char,
    pub labels: u64,
    pub flags: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spl_event {
    pub seq: u64,
    pub epoch: u64,
    pub groups: u64,
    pub slot: u32,
    pub kind: u32,
    pub key_len: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_vec_query {
    pub vec: *const f32,
    pub key: *const c_char,
    pub dim: u32,
    pub k: u32,
    pub metric: u32,
    pub flags: u32,
    pub labels: u64,
    pub prefix: *const c_char,
    pub threads: u32,
    pub ef: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spl_vec_hit {
    pub key: *const c_char,
    pub key_len: usize,
    pub score: f32,
    pub slot: u32,
    pub epoch: u64,
}

#[repr(C)]
#[derive(Debug)]
pub struct spl_vec_result {
    pub n: u32,
    pub scanned: u64,
    pub skipped: u64,
    pub hits: *mut spl_vec_hit,
    pub flags: u32,
}

pub type spl_iter_fn = Option<unsafe extern "C" fn(e: *const spl_entry, ud: *mut c_void) -> c_int>;
pub type spl_read_fn =
    Option<unsafe extern "C" fn(data: *const c_void, len: usize, ud: *mut c_void) -> c_int>;

extern "C" {
    pub fn spl_strerror(err: c_int) -> *const c_char;
    pub fn spl_err_name(err: c_int) -> *const c_char;
    pub fn spl_options_init(o: *mut spl_options);

    pub fn spl_create(
        out: *mut *mut spl_store,
        name: *const c_char,
        opt: *const spl_options,
    ) -> c_int;
    pub fn spl_open(
        out: *mut *mut spl_store,
        name: *const c_char,
        opt: *const spl_options,
    ) -> c_int;
    pub fn spl_open_or_create(
        out: *mut *mut spl_store,
        name: *const c_char,
        opt: *const spl_options,
    ) -> c_int;
    pub fn spl_open_fd(out: *mut *mut spl_store, fd: c_int, flags: u32) -> c_int;
    pub fn spl_close(s: *mut spl_store);
    pub fn spl_destroy(name: *const c_char, opt: *const spl_options) -> c_int;
    pub fn spl_flush(s: *mut spl_store) -> c_int;
    pub fn spl_fd(s: *const spl_store) -> c_int;
    pub fn spl_fd_send(sock: c_int, fd: c_int) -> c_int;
    pub fn spl_fd_recv(sock: c_int, fd_out: *mut c_int) -> c_int;
    pub fn spl_info_get_n(s: *mut spl_store, out: *mut spl_info, size: usize) -> c_int;

    pub fn spl_type_name(t: c_uint) -> *const c_char;
    pub fn spl_type_parse(name: *const c_char) -> c_int;

    pub fn spl_set(s: *mut spl_store, key: *const c_char, val: *const c_void, len: usize) -> c_int;
    pub fn spl_get(
        s: *mut spl_store,
        key: *const c_char,
        buf: *mut c_void,
        cap: usize,
        len_out: *mut usize,
    ) -> c_int;
    pub fn spl_unset(s: *mut spl_store, key: *const c_char) -> c_int;
    pub fn spl_exists(s: *mut spl_store, key: *const c_char) -> c_int;
    pub fn spl_append(
        s: *mut spl_store,
        key: *const c_char,
        data: *const c_void,
        len: usize,
    ) -> c_int;
    pub fn spl_cas(
        s: *mut spl_store,
        key: *const c_char,
        expected: u64,
        val: *const c_void,
        len: usize,
    ) -> c_int;
    pub fn spl_set_wait(
        s: *mut spl_store,
        key: *const c_char,
        val: *const c_void,
        len: usize,
        timeout_us: u32,
    ) -> c_int;
    pub fn spl_get_wait(
        s: *mut spl_store,
        key: *const c_char,
        buf: *mut c_void,
        cap: usize,
        len_out: *mut usize,
        timeout_us: u32,
    ) -> c_int;
    pub fn spl_unset_wait(s: *mut spl_store, key: *const c_char, timeout_us: u32) -> c_int;
    pub fn spl_retry_init(r: *mut spl_retry, timeout_us: u32);
    pub fn spl_retry_pause(
        s: *mut spl_store,
        key: *const c_char,
        write: c_int,
        r: *mut spl_retry,
    ) -> c_int;

    pub fn spl_key_prep(s: *mut spl_store, key: *const c_char, out: *mut spl_key) -> c_int;
    pub fn spl_get_k(
        s: *mut spl_store,
        k: *const spl_key,
        buf: *mut c_void,
        cap: usize,
        len_out: *mut usize,
    ) -> c_int;
    pub fn spl_set_k(s: *mut spl_store, k: *const spl_key, val: *const c_void, len: usize)
        -> c_int;
    pub fn spl_unset_k(s: *mut spl_store, k: *const spl_key) -> c_int;
    pub fn spl_add_k(s: *mut spl_store, k: *const spl_key, delta: i64, out: *mut i64) -> c_int;
    pub fn spl_get_many(
        s: *mut spl_store,
        keys: *const spl_key,
        n: usize,
        bufs: *mut c_void,
        stride: usize,
        lens: *mut usize,
        rcs: *mut c_int,
    ) -> c_int;
    pub fn spl_set_many(
        s: *mut spl_store,
        keys: *const spl_key,
        n: usize,
        vals: *const c_void,
        stride: usize,
        lens: *const usize,
        rcs: *mut c_int,
    ) -> c_int;

    pub fn spl_meta_get(s: *mut spl_store, key: *const c_char, out: *mut spl_meta) -> c_int;
    pub fn spl_type_set(s: *mut spl_store, key: *const c_char, t: c_uint) -> c_int;
    pub fn spl_flags_set(s: *mut spl_store, key: *const c_char, user_flags: u8) -> c_int;
    pub fn spl_labels_set(s: *mut spl_store, key: *const c_char, mask: u64) -> c_int;
    pub fn spl_labels_clear(s: *mut spl_store, key: *const c_char, mask: u64) -> c_int;
    pub fn spl_touch(s: *mut spl_store, key: *const c_char) -> c_int;

    pub fn spl_view_get(s: *mut spl_store, key: *const c_char, v: *mut spl_view) -> c_int;
    pub fn spl_view_valid(s: *mut spl_store, v: *const spl_view) -> c_int;
    pub fn spl_read_with(
        s: *mut spl_store,
        key: *const c_char,
        f: spl_read_fn,
        ud: *mut c_void,
    ) -> c_int;

    pub fn spl_int(
        s: *mut spl_store,
        key: *const c_char,
        op: c_uint,
        operand: u64,
        out: *mut u64,
    ) -> c_int;
    pub fn spl_add(s: *mut spl_store, key: *const c_char, delta: i64, out: *mut i64) -> c_int;
    pub fn spl_inc(s: *mut spl_store, key: *const c_char, out: *mut i64) -> c_int;
    pub fn spl_dec(s: *mut spl_store, key: *const c_char, out: *mut i64) -> c_int;
    pub fn spl_int_try(
        s: *mut spl_store,
        key: *const c_char,
        op: c_uint,
        operand: u64,
        out: *mut u64,
    ) -> c_int;
    pub fn spl_int_try_k(
        s: *mut spl_store,
        k: *const spl_key,
        op: c_uint,
        operand: u64,
        out: *mut u64,
    ) -> c_int;
    pub fn spl_int_wait(
        s: *mut spl_store,
        key: *const c_char,
        op: c_uint,
        operand: u64,
        out: *mut u64,
        timeout_us: u32,
    ) -> c_int;
    pub fn spl_int_wait_k(
        s: *mut spl_store,
        k: *const spl_key,
        op: c_uint,
        operand: u64,
        out: *mut u64,
        timeout_us: u32,
    ) -> c_int;

    pub fn spl_foreach(
        s: *mut spl_store,
        f: *const spl_filter,
        fn_: spl_iter_fn,
        ud: *mut c_void,
    ) -> c_int;

    pub fn spl_watch(s: *mut spl_store, key: *const c_char, groups: u64) -> c_int;
    pub fn spl_unwatch(s: *mut spl_store, key: *const c_char, groups: u64) -> c_int;
    pub fn spl_bind(s: *mut spl_store, bit: c_uint, groups: u64) -> c_int;
    pub fn spl_unbind(s: *mut spl_store, bit: c_uint, groups: u64) -> c_int;
    pub fn spl_bind_get(s: *mut spl_store, bit: c_uint, groups: *mut u64) -> c_int;
    pub fn spl_bump(s: *mut spl_store, key: *const c_char) -> c_int;
    pub fn spl_signal(s: *mut spl_store, groups: u64) -> c_int;
    pub fn spl_pulses(s: *mut spl_store, group: c_uint, count: *mut u64) -> c_int;
    pub fn spl_key_wait(
        s: *mut spl_store,
        key: *const c_char,
        epoch: u64,
        timeout_ns: i64,
        epoch_out: *mut u64,
    ) -> c_int;
    pub fn spl_sub_open(s: *mut spl_store, groups: u64, out: *mut *mut spl_sub) -> c_int;
    pub fn spl_sub_close(sub: *mut spl_sub);
    pub fn spl_sub_wait(sub: *mut spl_sub, timeout_ns: i64, fired: *mut u64) -> c_int;
    pub fn spl_sub_seen(sub: *mut spl_sub, group: c_uint, count: *mut u64) -> c_int;
    pub fn spl_sub_next(
        sub: *mut spl_sub,
        ev: *mut spl_event,
        key: *mut c_char,
        cap: usize,
    ) -> c_int;
    pub fn spl_sub_fd(sub: *mut spl_sub) -> c_int;
    pub fn spl_signal_repair(s: *mut spl_store) -> c_int;

    pub fn spl_vec_set(s: *mut spl_store, key: *const c_char, vec: *const f32, dim: u32) -> c_int;
    pub fn spl_vec_get(
        s: *mut spl_store,
        key: *const c_char,
        out: *mut f32,
        dim: u32,
        epoch_out: *mut u64,
    ) -> c_int;
    pub fn spl_vec_clear(s: *mut spl_store, key: *const c_char) -> c_int;
    pub fn spl_vec_search(
        s: *mut spl_store,
        q: *const spl_vec_query,
        out: *mut *mut spl_vec_result,
    ) -> c_int;
    pub fn spl_vec_result_free(r: *mut spl_vec_result);
    pub fn spl_vec_simd() -> *const c_char;
    pub fn spl_vec_simd_force(name: *const c_char) -> c_int;

    pub fn spl_tandem_key(
        s: *mut spl_store,
        base: *const c_char,
        i: u32,
        out: *mut c_char,
        cap: usize,
    ) -> c_int;
    pub fn spl_tandem_set(
        s: *mut spl_store,
        base: *const c_char,
        vals: *const *const c_void,
        lens: *const usize,
        n: u32,
        timeout_us: u32,
    ) -> c_int;
    pub fn spl_tandem_get(
        s: *mut spl_store,
        base: *const c_char,
        i: u32,
        buf: *mut c_void,
        cap: usize,
        len_out: *mut usize,
    ) -> c_int;
    pub fn spl_tandem_count(s: *mut spl_store, base: *const c_char) -> c_int;
    pub fn spl_tandem_unset(s: *mut spl_store, base: *const c_char, timeout_us: u32) -> c_int;
    pub fn spl_tandem_vec_set(
        s: *mut spl_store,
        base: *const c_char,
        vecs: *const f32,
        n: u32,
        dim: u32,
        timeout_us: u32,
    ) -> c_int;
    pub fn spl_tandem_vec_get(
        s: *mut spl_store,
        base: *const c_char,
        i: u32,
        out: *mut f32,
        dim: u32,
    ) -> c_int;
}
