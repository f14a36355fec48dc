//! Approximate search through the `hnsw` fragment: a named store with a few
//! hundred vectors, the host started with splinterctl (`$SPLCTL`, else the
//! repository's build/splinterctl, which finds build/fragments/hnsw.so
//! beside it).  Exact while no instance runs (before insmod, after rmmod);
//! flagged approximate, top-1 right and recall@10 >= 0.9 while one does.
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use splinter::{Options, Query, SearchResult, Store};

const N: usize = 300;
const DIM: usize = 16;

/// Deterministic vectors in [-0.5, 0.5): a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn vector(&mut self) -> Vec<f32> {
        (0..DIM)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }
}

fn splinterctl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPLCTL") {
        return Some(PathBuf::from(p)); // set by the Makefile: must be there
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build/splinterctl");
    p.exists().then_some(p)
}

/// The store and its hnsw host: removed (host stopped, index region
/// purged, store unlinked) when dropped, also when an assertion failed.
struct Fixture {
    ctl: PathBuf,
    name: String,
}

impl Fixture {
    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(&self.ctl)
            .arg("--store")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("run splinterctl");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text += &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// Poll `frag hnsw stats` until the index is ready with every vector.
    fn wait_ready(&self, timeout: Duration) {
        let want = format!("\"state\":\"ready\",\"nodes\":{N},");
        let end = Instant::now() + timeout;
        loop {
            let (ok, s) = self.ctl(&["frag", "hnsw", "stats"]);
            if ok && s.contains(&want) {
                return;
            }
            assert!(
                Instant::now() < end,
                "hnsw not ready after {timeout:?}: {s}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (_, lsmod) = self.ctl(&["lsmod", "--json"]);
        self.ctl(&["rmmod", "--purge", "hnsw"]);
        // a host that did not stop: killed by its pid
        for part in lsmod.split("\"host_pid\":").skip(1) {
            let pid: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !pid.is_empty() && pid != "0" {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        }
        let _ = Store::destroy(&self.name, &Options::new());
    }
}

fn keys(r: &SearchResult) -> Vec<String> {
    r.hits
        .iter()
        .map(|h| h.key_str().unwrap().to_string())
        .collect()
}

/// Said in one write on the real stderr: the test harness keeps what
/// eprintln! writes to itself unless the test fails.  `make test-rust`
/// counts these lines as skipped, not passed.
fn skipped(why: &str) {
    let line = format!("SKIPPED ann_search_through_the_hnsw_fragment: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The handle looks at the registry again at most every 100 ms (src/ann.c).
fn past_recheck() {
    thread::sleep(Duration::from_millis(300));
}

#[test]
fn ann_search_through_the_hnsw_fragment() {
    if splinter::vec_simd() == "none" {
        return skipped("this build has no vectors (WITH_EMBEDDINGS=0)");
    }
    let Some(ctl) = splinterctl() else {
        return skipped("no build/splinterctl (make cli fragments)");
    };
    let name = format!("rust-ann-{}", std::process::id());
    let opt = Options::new()
        .slots(1024)
        .key_max(32)
        .val_max(16)
        .vec_dim(DIM as u32);
    let st = Store::create(&name, &opt).unwrap();
    let fx = Fixture { ctl, name };
    let mut rng = Lcg(0x5eed);
    let vecs: Vec<Vec<f32>> = (0..N).map(|_| rng.vector()).collect();
    for (i, v) in vecs.iter().enumerate() {
        st.vec_set(format!("k{i}"), v).unwrap();
    }
    let q = rng.vector();
    let exact = st.vec_search(&Query::vector(&q).k(10)).unwrap();
    assert!(!exact.approximate);

    // no instance yet: the exact scan answers, not flagged
    let r = st
        .vec_search(&Query::vector(&q).k(10).ann(true).ef(64))
        .unwrap();
    assert!(!r.approximate, "approximate with no hnsw running");
    assert_eq!(keys(&r), keys(&exact));

    let (ok, out) = fx.ctl(&["insmod", "hnsw"]);
    assert!(ok && out.starts_with("hnsw: running"), "insmod: {out}");
    fx.wait_ready(Duration::from_secs(30));
    past_recheck();

    // stored vectors: flagged approximate, each its own top-1
    for i in (0..N).step_by(15) {
        let r = st
            .vec_search(&Query::vector(&vecs[i]).k(1).ann(true).ef(64))
            .unwrap();
        assert!(r.approximate, "k{i}: not answered by the index");
        assert_eq!(keys(&r), [format!("k{i}")], "top-1 of k{i}");
    }
    // recall@10 against the exact search over random queries
    let (mut found, mut total) = (0, 0);
    for _ in 0..20 {
        let q = rng.vector();
        let a = st
            .vec_search(&Query::vector(&q).k(10).ann(true).ef(64))
            .unwrap();
        let e = st.vec_search(&Query::vector(&q).k(10)).unwrap();
        assert!(a.approximate && !e.approximate);
        let ek = keys(&e);
        found += keys(&a).iter().filter(|k| ek.contains(k)).count();
        total += ek.len();
    }
    let recall = found as f64 / total as f64;
    assert!(recall >= 0.9, "recall@10 {recall} ({found} of {total})");

    // rmmod: exact again
    let (ok, out) = fx.ctl(&["rmmod", "hnsw"]);
    assert!(ok, "rmmod: {out}");
    past_recheck();
    let r = st.vec_search(&Query::vector(&q).k(10).ann(true)).unwrap();
    assert!(!r.approximate, "approximate after rmmod");
    assert_eq!(keys(&r), keys(&exact));
    drop(st);
}
