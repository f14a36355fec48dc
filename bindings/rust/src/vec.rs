//! Vector search.
use std::ffi::CString;
use std::ptr;

use crate::error::{check, Error, Result};
use crate::store::Store;
use crate::sys;

/// Similarity measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Higher first; 0 if a norm is 0.
    Cosine = 0,
    /// Dot product, higher first.
    Dot = 1,
    /// Euclidean distance, lower first.
    L2 = 2,
}

/// A search: by a vector ([`Query::vector`]) or by a stored key's vector
/// ([`Query::key`]); builder methods for the rest.  Exact unless
/// [`Query::ann`] asks for an approximate index.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    vec: Option<&'a [f32]>,
    key: Option<&'a [u8]>,
    k: u32,
    metric: Metric,
    labels: u64,
    any_labels: bool,
    prefix: Option<&'a [u8]>,
    skip_self: bool,
    threads: u32,
    ann: bool,
    ef: u32,
}

impl<'a> Query<'a> {
    pub fn vector(v: &'a [f32]) -> Query<'a> {
        Query {
            vec: Some(v),
            key: None,
            k: 10,
            metric: Metric::Cosine,
            labels: 0,
            any_labels: false,
            prefix: None,
            skip_self: false,
            threads: 0,
            ann: false,
            ef: 0,
        }
    }
    pub fn key(k: &'a (impl AsRef<[u8]> + ?Sized)) -> Query<'a> {
        Query {
            vec: None,
            key: Some(k.as_ref()),
            ..Query::vector(&[])
        }
    }
    /// Results wanted (1..4096; default 10).
    pub fn k(mut self, k: u32) -> Self {
        self.k = k;
        self
    }
    pub fn metric(mut self, m: Metric) -> Self {
        self.metric = m;
        self
    }
    /// Keys carrying all these label bits (any of them with `any_labels`).
    pub fn labels(mut self, mask: u64) -> Self {
        self.labels = mask;
        self
    }
    pub fn any_labels(mut self, on: bool) -> Self {
        self.any_labels = on;
        self
    }
    pub fn prefix(mut self, p: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.prefix = Some(p.as_ref());
        self
    }
    /// Query by key: leave that key out.
    pub fn skip_self(mut self, on: bool) -> Self {
        self.skip_self = on;
        self
    }
    /// Split the scan over this many threads (0, 1: the caller's).
    pub fn threads(mut self, n: u32) -> Self {
        self.threads = n;
        self
    }
    /// Approximate: answered by a running ANN index of the store (the
    /// `hnsw` fragment, `splinterctl insmod hnsw`) when there is one that
    /// keeps up; else by the exact scan.  [`SearchResult::approximate`]
    /// says which answered.
    pub fn ann(mut self, on: bool) -> Self {
        self.ann = on;
        self
    }
    /// With [`Query::ann`]: candidates the index keeps while searching
    /// (0: its default; raised to `k`).  More is slower and finds more of
    /// the exact top-k.
    pub fn ef(mut self, n: u32) -> Self {
        self.ef = n;
        self
    }
}

/// One hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub key: Vec<u8>,
    pub score: f32,
    pub slot: u32,
    /// The slot epoch the scored vector belongs to.
    pub epoch: u64,
}

impl Hit {
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// Hits, best first, with the scan's counts.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    pub scanned: u64,
    pub skipped: u64,
    /// The hits came from an ANN index (asked for with [`Query::ann`]):
    /// approximate, possibly missing some of the exact top-k.  `false`: the
    /// exact scan answered.
    pub approximate: bool,
}

pub(crate) fn search(st: &Store, q: &Query<'_>) -> Result<SearchResult> {
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| Error::Invalid);
    let key = q.key.map(cstr).transpose()?;
    let prefix = q.prefix.map(cstr).transpose()?;
    let raw = sys::spl_vec_query {
        vec: q.vec.map_or(ptr::null(), |v| v.as_ptr()),
        key: key.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        dim: q.vec.map_or(0, |v| v.len() as u32),
        k: q.k,
        metric: q.metric as u32,
        flags: (if q.any_labels {
            sys::SPL_F_LABELS_ANY
        } else {
            0
        }) | (if q.skip_self {
            sys::SPL_VQ_SKIP_SELF
        } else {
            0
        }) | (if q.ann { sys::SPL_VQ_ANN } else { 0 }),
        labels: q.labels,
        prefix: prefix.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        threads: q.threads,
        ef: q.ef,
    };
    let mut out: *mut sys::spl_vec_result = ptr::null_mut();
    // SAFETY: the query's pointers live until the call returns.
    check(unsafe { sys::spl_vec_search(st.as_ptr(), &raw, &mut out) })?;
    // SAFETY: one block with n hits; freed below.
    let res = unsafe {
        let r = &*out;
        let hits = (0..r.n as usize)
            .map(|i| {
                let h = &*r.hits.add(i);
                Hit {
                    key: std::slice::from_raw_parts(h.key as *const u8, h.key_len).to_vec(),
                    score: h.score,
                    slot: h.slot,
                    epoch: h.epoch,
                }
            })
            .collect();
        let sr = SearchResult {
            hits,
            scanned: r.scanned,
            skipped: r.skipped,
            approximate: r.flags & sys::SPL_VR_ANN != 0,
        };
        sys::spl_vec_result_free(out);
        sr
    };
    Ok(res)
}
