use std::io::Write;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use splinter::{
    Backing, Error, EventKind, Filter, HugePages, IntOp, Metric, NumaMode, Options, Query, Store,
    Type, Wait,
};

fn mem(vec_dim: u32) -> Store {
    Store::memfd(
        &Options::new()
            .slots(256)
            .key_max(64)
            .val_max(1024)
            .vec_dim(vec_dim),
    )
    .unwrap()
}

/// The library's own answer: a WITH_EMBEDDINGS=0 build says "none" (it
/// refuses a store with vectors, and every vector call is NotSup).
fn has_vectors() -> bool {
    splinter::vec_simd() != "none"
}

/// Said in one write on the real stderr, where the harness does not hold it
/// back (it keeps what eprintln! writes unless the test fails); `make
/// test-rust` counts these lines as skipped, not passed.
fn skipped(test: &str, why: &str) {
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
}

const NO_VECTORS: &str = "this build has no vectors (WITH_EMBEDDINGS=0)";

/// Destroys the named store (or FILE store's path) when dropped, also when
/// an assertion fails and the test's panic unwinds through it: a failing
/// test leaves nothing in /dev/shm.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Store::destroy(&self.0, &Options::new());
    }
}

fn name(tag: &str) -> String {
    format!(
        "rust-{}-{}-{}",
        tag,
        std::process::id(),
        Instant::now().elapsed().as_nanos() % 1_000_000
    )
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn store_is_send_and_sync() {
    assert_send_sync::<Store>();
    fn send<T: Send>() {}
    send::<splinter::Subscription>();
}

#[test]
fn kv_basics() {
    let st = mem(0);
    st.set("a", b"1").unwrap();
    st.set(b"b".as_slice(), "22").unwrap();
    assert_eq!(st.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(st.get("missing").unwrap(), None);
    assert!(st.exists("b").unwrap() && !st.exists("zz").unwrap());
    st.append("b", b"33").unwrap();
    assert_eq!(st.get("b").unwrap().unwrap(), b"2233");
    assert!(st.unset("b").unwrap());
    assert!(!st.unset("b").unwrap());
    let mut buf = [0u8; 4];
    assert_eq!(st.get_into("a", &mut buf).unwrap(), Some(1));
    st.set("long", [7u8; 100]).unwrap();
    assert_eq!(st.get_into("long", &mut buf), Err(Error::NoBufs));
    assert_eq!(st.get("long").unwrap().unwrap(), vec![7u8; 100]);
    st.set("e", b"").unwrap();
    assert_eq!(st.get("e").unwrap(), Some(vec![]));
    let big = vec![1u8; 1024];
    st.set("big", &big).unwrap();
    assert_eq!(st.get("big").unwrap().unwrap(), big); // grows past the first 256 bytes
    assert_eq!(st.set("big", vec![1u8; 1025]), Err(Error::TooBig));
    assert_eq!(st.info().unwrap().used, 4);
}

#[test]
fn errors_carry_names() {
    let st = mem(0);
    let e = st.set("k".repeat(65), b"x").unwrap_err();
    assert_eq!(
        (e, e.name(), e.code()),
        (Error::KeyLen, "SPL_EKEYLEN", -1000)
    );
    assert_eq!(st.set("", b"x"), Err(Error::KeyLen));
    assert_eq!(st.set("a\0b", b"x"), Err(Error::Invalid));
    assert!(e.to_string().starts_with("SPL_EKEYLEN: "));
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().contains("key_max"));
    let io: std::io::Error = Error::Again.into();
    assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(Error::from_code(-1), Error::Os(-1));
    st.set("k".repeat(64), b"ok").unwrap();
    st.set("ünï", b"u").unwrap();
    assert_eq!(st.get("ünï").unwrap().unwrap(), b"u");
    assert_eq!(splinter::err_name(-11), "SPL_EAGAIN");
    for &(e, code, name) in Error::ALL {
        assert_eq!(splinter::err_name(code), name);
        assert_eq!(Error::from_code(code), e);
    }
}

#[test]
fn error_table_matches_the_header() {
    let h = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../include/splinter.h"
    ))
    .unwrap();
    let mut header: Vec<(String, i32)> = Vec::new();
    for line in h.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("X(SPL_E") {
            let mut parts = rest.splitn(3, ',');
            let name = format!("SPL_E{}", parts.next().unwrap().trim());
            let val: i32 = parts.next().unwrap().trim().parse().unwrap();
            header.push((name, val));
        }
    }
    assert!(header.len() > 30);
    let mut ours: Vec<(String, i32)> = Error::ALL
        .iter()
        .map(|&(_, c, n)| (n.to_string(), c))
        .collect();
    header.sort();
    ours.sort();
    assert_eq!(ours, header);
}

#[test]
fn cas_and_integers() {
    let st = mem(0);
    st.cas("c", 0, b"first").unwrap();
    assert_eq!(st.cas("c", 0, b"again"), Err(Error::Exists));
    let e = st.meta("c").unwrap().unwrap().epoch;
    st.cas("c", e, b"second").unwrap();
    assert_eq!(st.cas("c", e, b"third"), Err(Error::Stale));
    assert_eq!(st.cas("nope", 2, b"x"), Err(Error::NotFound));

    assert_eq!(st.add("n", 5).unwrap(), 5);
    assert_eq!(st.inc("n").unwrap(), 6);
    assert_eq!(st.dec("n").unwrap(), 5);
    assert_eq!(st.int_op("n", IntOp::Or, 0b1010).unwrap(), 0b1111);
    assert_eq!(st.int_op("n", IntOp::Xor, 0b0001).unwrap(), 0b1110);
    assert_eq!(st.int_op("n", IntOp::And, 0b0110).unwrap(), 0b0110);
    assert_eq!(st.int_op("n", IntOp::Not, 0).unwrap(), !0b0110u64);
    st.set_int("m", -42).unwrap();
    assert_eq!(st.get_int("m").unwrap(), Some(-42));
    assert_eq!(st.add("m", 2).unwrap(), -40);
    st.set("s", b"text").unwrap();
    assert_eq!(st.inc("s"), Err(Error::Type));
    assert_eq!(st.get_int("s"), Err(Error::Type));
    st.set_str("t", "héllo").unwrap();
    assert_eq!(st.get_str("t").unwrap().as_deref(), Some("héllo"));
    assert_eq!(st.meta("t").unwrap().unwrap().value_type, Type::Text);
}

#[test]
fn integers_never_lose_updates_across_threads() {
    let st = mem(0);
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let s = st.clone();
            thread::spawn(move || {
                for _ in 0..5000 {
                    s.inc("ctr").unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(st.get_int("ctr").unwrap(), Some(20000));
}

#[test]
fn metadata_and_filters() {
    let st = mem(0);
    st.set("k", b"abc").unwrap();
    st.set_type("k", Type::Json).unwrap();
    st.set_flags("k", 0x5a).unwrap();
    st.set_labels("k", 0b1011).unwrap();
    st.clear_labels("k", 0b0001).unwrap();
    st.touch("k").unwrap();
    let m = st.meta("k").unwrap().unwrap();
    assert_eq!(
        (m.value_type, m.user_flags, m.labels, m.val_len),
        (Type::Json, 0x5a, 0b1010, 3)
    );
    assert!(m.atime_ns > 0 && m.ctime_ns > 0);
    assert_eq!(st.meta("nope").unwrap(), None);
    assert_eq!(st.set_labels("nope", 1), Err(Error::NotFound));
    assert_eq!(Type::parse("int64").unwrap(), Type::Int64);
    assert_eq!(Type::Text.name(), "text");

    for i in 0..10 {
        let k = format!("user:{i}");
        st.set(&k, i.to_string()).unwrap();
        st.set_labels(&k, 1 << (i % 3)).unwrap();
    }
    let mut keys = st
        .keys(&Filter {
            prefix: Some("user:"),
            ..Default::default()
        })
        .unwrap();
    keys.sort();
    assert_eq!(keys.len(), 10);
    let g = st
        .keys(&Filter {
            glob: Some("user:[12]"),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(g.len(), 2);
    let l = st
        .keys(&Filter {
            labels: 0b011,
            any_labels: true,
            prefix: Some("user:"),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(l.len(), 7);
    let es = st
        .entries(&Filter {
            prefix: Some("user:7"),
            values: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(es.len(), 1);
    assert_eq!(
        (es[0].key_str(), es[0].value.as_deref()),
        (Some("user:7"), Some(&b"7"[..]))
    );
    let mut n = 0;
    st.for_each(&Filter::default(), |_| {
        n += 1;
        if n == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(n, 3);
}

#[test]
#[should_panic(expected = "inside the callback")]
fn a_panic_in_for_each_comes_back() {
    let st = mem(0);
    st.set("a", b"1").unwrap();
    st.for_each(&Filter::default(), |_| panic!("inside the callback"))
        .unwrap();
}

#[test]
fn views() {
    let st = mem(0);
    st.set("k", b"hello world").unwrap();
    let v = st.view("k").unwrap().unwrap();
    assert_eq!(v.len(), 11);
    assert_eq!(v.epoch(), st.meta("k").unwrap().unwrap().epoch);
    assert_eq!(unsafe { v.as_bytes() }, b"hello world");
    assert!(v.is_valid().unwrap());
    assert_eq!(v.to_vec().unwrap(), b"hello world");
    st.set("k", b"HELLO world").unwrap();
    assert_eq!(&unsafe { v.as_bytes() }[..5], b"HELLO"); // changed in place
    assert!(!v.is_valid().unwrap());
    assert_eq!(v.to_vec(), Err(Error::Stale));
    assert!(st.view("missing").unwrap().is_none());
    let got = unsafe { st.read_with("k", |b| b.len()) }.unwrap();
    assert_eq!(got, Some(11));
    assert_eq!(
        unsafe { st.read_with("missing", |b| b.len()) }.unwrap(),
        None
    );
}

#[test]
fn lifecycle_and_backings() {
    let n = name("life");
    let _cleanup = Cleanup(n.clone());
    assert_eq!(
        Store::open(&n, &Options::new()).unwrap_err(),
        Error::NotFound
    );
    let st = Store::create(
        &n,
        &Options::new().slots(32).key_max(16).val_max(64).vec_dim(0),
    )
    .unwrap();
    assert_eq!(
        Store::create(&n, &Options::new()).unwrap_err(),
        Error::Exists
    );
    st.set("k", b"v").unwrap();
    let i = st.info().unwrap();
    assert_eq!(
        (i.slots, i.key_max, i.val_max, i.vec_dim, i.backing),
        (32, 16, 64, 0, Backing::Shm)
    );
    {
        let ro = Store::open(&n, &Options::new().read_only(true)).unwrap();
        assert_eq!(ro.get("k").unwrap().unwrap(), b"v");
        assert_eq!(ro.set("k", b"x"), Err(Error::ReadOnly));
    }
    let again = Store::open_or_create(
        &n,
        &Options::new().slots(32).key_max(16).val_max(64).vec_dim(0),
    )
    .unwrap();
    assert_eq!(again.get("k").unwrap().unwrap(), b"v");
    assert_eq!(
        Store::open_or_create(&n, &Options::new().slots(64)).unwrap_err(),
        Error::Geometry
    );
    assert!(Store::destroy(&n, &Options::new()).unwrap());
    assert!(!Store::destroy(&n, &Options::new()).unwrap());
    st.flush().unwrap();

    let dir = std::env::temp_dir().join(name("file"));
    let path = dir.to_str().unwrap().to_string() + ".spl";
    let _cleanup = Cleanup(path.clone());
    {
        let f = Store::create(&path, &Options::new().slots(16).vec_dim(0)).unwrap();
        f.set("persist", b"yes").unwrap();
        assert_eq!(f.info().unwrap().backing, Backing::File);
    }
    let f = Store::open(&path, &Options::new()).unwrap();
    assert_eq!(f.get("persist").unwrap().unwrap(), b"yes");
    Store::destroy(&path, &Options::new()).unwrap();
}

#[test]
fn fd_passing() {
    use std::os::unix::net::UnixStream;
    let (a, b) = UnixStream::pair().unwrap();
    let st = mem(0);
    st.set("anon", b"shared").unwrap();
    splinter::fd_send(&a, &st).unwrap();
    let fd = splinter::fd_recv(&b).unwrap();
    let other = Store::open_fd(&fd, false).unwrap();
    assert_eq!(other.get("anon").unwrap().unwrap(), b"shared");
    assert_eq!(other.info().unwrap().backing, Backing::Memfd);
}

// ---------------------------------------------------------------- contention

extern "C" {
    fn fork() -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
    fn _exit(status: i32) -> !;
}
const SIGKILL: i32 = 9;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;
const WUNTRACED: i32 = 2;

/// A forked writer, killed (and reaped) when dropped: a failed assert must
/// not leave it stopped, holding the test's output open.
struct Child(i32);
impl Drop for Child {
    fn drop(&mut self) {
        unsafe {
            kill(self.0, SIGKILL);
            waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

/// Set in the forked writer when it is resumed (SIGCONT).
static RESUMED: AtomicBool = AtomicBool::new(false);
extern "C" fn on_cont(_: i32) {
    RESUMED.store(true, Ordering::SeqCst);
}

/// A writer stopped (SIGSTOP) inside a write holds its slot: a nowait
/// handle gets Error::Again at once, a waiting one after its timeout, the
/// calls with no C `*_wait` variant too (spl_retry_pause); a handle with time
/// to spare gets through once the writer is resumed (SIGCONT: it commits and
/// exits).  Once the writer is killed, the default handle's wait gets the
/// value (the library recovers the dead writer's slot).
#[test]
fn contention_waits_by_default_and_nowait_says_again() {
    let n = name("busy");
    let _cleanup = Cleanup(n.clone());
    let st = Store::create(&n, &Options::new().slots(16).val_max(1 << 20).vec_dim(0)).unwrap();
    st.set("k", b"start").unwrap();
    let big = vec![0x55u8; 1 << 20];
    let nb = st.nowait();
    assert_eq!(nb.wait_policy(), Wait::No);
    let short = st.with_wait(Wait::For(Duration::from_millis(50)));
    let mut saw_again = false;
    for _ in 0..50 {
        // SAFETY: the child only calls into the C library (and sets an
        // atomic from its signal handler) until it is killed or resumed.
        let pid = unsafe { fork() };
        if pid == 0 {
            unsafe { signal(SIGCONT, on_cont) };
            loop {
                let _ = st.set("k", &big);
                if RESUMED.load(Ordering::SeqCst) {
                    unsafe { _exit(0) }; // resumed: the write under way committed
                }
            }
        }
        let child = Child(pid);
        // on a loaded machine the child may take a while to run: wait for
        // its first write (the epoch moves, or the slot is busy)
        let e0 = st.meta("k").unwrap().unwrap().epoch;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(2) {
            match nb.meta("k") {
                Err(Error::Again) => break,
                Ok(Some(m)) if m.epoch != e0 => break,
                _ => thread::sleep(Duration::from_millis(1)),
            }
        }
        thread::sleep(Duration::from_millis(2));
        unsafe {
            kill(pid, SIGSTOP);
            waitpid(pid, std::ptr::null_mut(), WUNTRACED);
        }
        let r = nb.get("k");
        if r == Err(Error::Again) {
            saw_again = true;
            assert_eq!(nb.set("k", b"x"), Err(Error::Again));
            // no *_wait in C for exists: the binding's loop
            assert_eq!(nb.exists("k"), Err(Error::Again));
            // nor for these, a read and a write: at once too
            let t1 = Instant::now();
            assert_eq!(nb.meta("k"), Err(Error::Again));
            assert_eq!(nb.set_labels("k", 2), Err(Error::Again));
            assert_eq!(nb.prepare("k").unwrap().get(), Err(Error::Again));
            assert!(
                t1.elapsed() < Duration::from_secs(2),
                "waited {:?}",
                t1.elapsed()
            );
            // the integer ops too, at once (spl_int_try; spl_int would wait 10 s)
            let t1 = Instant::now();
            assert_eq!(nb.add("k", 1), Err(Error::Again));
            assert_eq!(nb.int_op("k", IntOp::Or, 1), Err(Error::Again));
            assert_eq!(nb.prepare("k").unwrap().add(1), Err(Error::Again));
            assert!(
                t1.elapsed() < Duration::from_secs(2),
                "waited {:?}",
                t1.elapsed()
            );
            let t0 = Instant::now();
            assert_eq!(short.get("k"), Err(Error::Again));
            assert_eq!(short.meta("k"), Err(Error::Again));
            assert!(
                t0.elapsed() >= Duration::from_millis(90),
                "waited {:?}",
                t0.elapsed()
            );
            // the integer ops wait for the handle's time too (spl_int_wait;
            // spl_int waited 10 s, then Error::TimedOut)
            let t2 = Instant::now();
            assert_eq!(short.add("k", 1), Err(Error::Again));
            assert_eq!(short.prepare("k").unwrap().add(1), Err(Error::Again));
            let waited = t2.elapsed();
            assert!(
                waited >= Duration::from_millis(90) && waited < Duration::from_secs(2),
                "waited {:?}",
                waited
            );
            // the calls with no C *_wait variant wait for the handle's time
            // too (spl_retry_pause), a read and a write, then give up
            let mid = st.with_wait(Wait::For(Duration::from_millis(200)));
            let p = mid.prepare("k").unwrap();
            let calls: [(&str, &dyn Fn() -> Option<Error>); 4] = [
                ("meta", &|| mid.meta("k").err()),
                ("exists", &|| mid.exists("k").err()),
                ("set_labels", &|| mid.set_labels("k", 2).err()),
                ("prepared set", &|| p.set(b"p").err()),
            ];
            for (what, call) in calls {
                let t3 = Instant::now();
                assert_eq!(call(), Some(Error::Again), "{what}");
                let waited = t3.elapsed();
                assert!(
                    waited >= Duration::from_millis(160) && waited < Duration::from_secs(3),
                    "{what} waited {waited:?}"
                );
            }
            // with time to spare they wait, asleep, and get through once the
            // writer is resumed (it commits and exits)
            let long = st.with_wait(Wait::For(Duration::from_secs(10)));
            let (l1, l2) = (long.clone(), long.clone());
            let reader = thread::spawn(move || {
                let t = Instant::now();
                l1.meta("k").map(|m| (m.is_some(), t.elapsed()))
            });
            let writer = thread::spawn(move || {
                let t = Instant::now();
                l2.set_labels("k", 4).map(|_| t.elapsed())
            });
            thread::sleep(Duration::from_millis(250));
            unsafe { kill(pid, SIGCONT) };
            let (found, took_r) = reader.join().unwrap().expect("meta waited for the writer");
            let took_w = writer
                .join()
                .unwrap()
                .expect("set_labels waited for the writer");
            assert!(found);
            for (what, took) in [("meta", took_r), ("set_labels", took_w)] {
                assert!(
                    took >= Duration::from_millis(200) && took < Duration::from_secs(5),
                    "{what} took {took:?}"
                );
            }
            assert_ne!(st.meta("k").unwrap().unwrap().labels & 4, 0);
        }
        drop(child);
        if saw_again {
            let v = st.get("k").unwrap().unwrap(); // recovered: the old or the new value
            assert!(v == big || v == b"start");
            assert!(st.exists("k").unwrap());
            break;
        }
        r.unwrap(); // stopped between two writes: try again
    }
    Store::destroy(&n, &Options::new()).unwrap();
    assert!(saw_again, "never caught the child inside a write");
}

// ---------------------------------------------------------------- signals

#[test]
fn watch_keys_iterates_events() {
    let st = mem(0);
    st.set("a", b"0").unwrap();
    st.set("b", b"0").unwrap();
    let mut sub = st.watch_keys(&["a", "b"], 3).unwrap();
    assert_eq!(st.meta("a").unwrap().unwrap().watch, 1 << 3);
    let w = st.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        w.set("a", b"1").unwrap();
        w.set("noise", b"x").unwrap();
        w.set("b", b"1").unwrap();
    });
    let mut seen = Vec::new();
    for ev in sub.events(Some(Duration::from_secs(5))) {
        let ev = ev.unwrap();
        seen.push((ev.kind, ev.key_str().map(String::from)));
        if seen.len() == 2 {
            st.unset("a").unwrap();
        }
        if seen.len() == 3 {
            break;
        }
    }
    t.join().unwrap();
    assert_eq!(
        seen,
        vec![
            (EventKind::Changed, Some("a".into())),
            (EventKind::Changed, Some("b".into())),
            (EventKind::Deleted, Some("a".into()))
        ]
    );
    // idle timeout ends the iterator
    let t0 = Instant::now();
    assert_eq!(sub.events(Some(Duration::from_millis(50))).count(), 0);
    assert!(t0.elapsed() >= Duration::from_millis(40));
}

#[test]
fn key_wait_and_subscription_calls() {
    let st = mem(0);
    st.set("k", b"0").unwrap();
    let e0 = st.meta("k").unwrap().unwrap().epoch;
    let w = st.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        w.set("k", b"1").unwrap();
    });
    let e1 = st
        .key_wait("k", e0, Some(Duration::from_secs(5)))
        .unwrap()
        .unwrap();
    t.join().unwrap();
    assert!(e1 > e0);
    assert_eq!(
        st.key_wait("k", e1, Some(Duration::from_millis(20)))
            .unwrap(),
        None
    );
    assert_eq!(
        st.key_wait("nope", 0, Some(Duration::from_millis(20))),
        Err(Error::NotFound)
    );

    st.bind(5, 1 << 7).unwrap();
    assert_eq!(st.bound(5).unwrap(), 1 << 7);
    let mut sub = st.subscribe(1 << 7).unwrap();
    assert_eq!(sub.wait(Some(Duration::ZERO)).unwrap(), None);
    st.set("lab", b"v").unwrap();
    st.set_labels("lab", 1 << 5).unwrap();
    st.signal(1 << 7).unwrap();
    assert_eq!(
        sub.wait(Some(Duration::from_secs(1))).unwrap(),
        Some(1 << 7)
    );
    let a = sub.next_event().unwrap().unwrap();
    let b = sub.next_event().unwrap().unwrap();
    assert_eq!(
        (a.kind, a.key_str(), b.kind, b.key, b.slot),
        (
            EventKind::Changed,
            Some("lab"),
            EventKind::Signal,
            None,
            None
        )
    );
    assert_eq!(sub.next_event().unwrap(), None);
    st.bump("lab").unwrap();
    assert_eq!(
        sub.events(None).next().unwrap().unwrap().kind,
        EventKind::Bumped
    );
    assert!(sub.seen(7).unwrap() >= 2 && st.pulses(7).unwrap() >= 3);
    st.unbind(5, 1 << 7).unwrap();
    st.watch("lab", 1).unwrap();
    st.unwatch("lab", 1).unwrap();
    assert_eq!(st.meta("lab").unwrap().unwrap().watch, 0);
    st.signal_repair().unwrap();
}

#[test]
fn overflow_is_reported_and_reading_goes_on() {
    let st = Store::memfd(&Options::new().slots(64).vec_dim(0).feed_len(16)).unwrap();
    st.set("k", b"0").unwrap();
    let mut sub = st.watch_keys(&["k"], 0).unwrap();
    for i in 0..40 {
        st.set("k", i.to_string()).unwrap();
    }
    let items: Vec<_> = sub.events(Some(Duration::from_millis(50))).collect();
    assert!(items.contains(&Err(Error::Overflow)));
    st.set("k", b"after").unwrap();
    assert_eq!(sub.next_event().unwrap().unwrap().key_str(), Some("k"));
}

#[test]
fn pollable_fd() {
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    extern "C" {
        fn poll(fds: *mut PollFd, n: u64, timeout: i32) -> i32;
    }
    use std::os::fd::AsRawFd;
    let st = mem(0);
    st.set("k", b"0").unwrap();
    let mut sub = st.watch_keys(&["k"], 2).unwrap();
    let fd = sub.fd().unwrap().as_raw_fd();
    let mut p = PollFd {
        fd,
        events: 1,
        revents: 0,
    };
    assert_eq!(unsafe { poll(&mut p, 1, 20) }, 0);
    let w = st.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        w.set("k", b"1").unwrap();
    });
    assert_eq!(unsafe { poll(&mut p, 1, 5000) }, 1);
    t.join().unwrap();
    sub.ack().unwrap();
    assert_eq!(sub.next_event().unwrap().unwrap().key_str(), Some("k"));
}

#[test]
fn subscription_keeps_the_store_open() {
    let st = mem(0);
    st.set("k", b"0").unwrap();
    let mut sub = st.watch_keys(&["k"], 0).unwrap();
    let writer = st.clone();
    drop(st);
    writer.set("k", b"1").unwrap();
    drop(writer); // the subscription still holds the handle
    assert_eq!(sub.next_event().unwrap().unwrap().key_str(), Some("k"));
}

#[test]
fn threads_share_one_handle() {
    let st = Arc::new(mem(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let (s, bad) = (st.clone(), bad.clone());
            thread::spawn(move || {
                for j in 0..2000 {
                    let k = format!("t{i}-{}", j % 20);
                    s.set(&k, format!("{i}:{j}")).unwrap();
                    if !s
                        .get(&k)
                        .unwrap()
                        .unwrap()
                        .starts_with(format!("{i}:").as_bytes())
                    {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(bad.load(Ordering::Relaxed), 0);
}

// ---------------------------------------------------------------- vectors

#[test]
fn vectors() {
    if !has_vectors() {
        return skipped("vectors", NO_VECTORS);
    }
    let st = mem(4);
    st.vec_set("x", &[1.0, 0.0, 0.0, 0.0]).unwrap();
    st.vec_set("y", &[0.0, 1.0, 0.0, 0.0]).unwrap();
    st.vec_set("xy", &[1.0, 1.0, 0.0, 0.0]).unwrap();
    st.vec_set("other:z", &[0.0, 0.0, 1.0, 0.0]).unwrap();
    st.set_labels("y", 0b10).unwrap();
    let (v, ep) = st.vec_get("x").unwrap().unwrap();
    assert_eq!(
        (v, ep),
        (
            vec![1.0, 0.0, 0.0, 0.0],
            st.meta("x").unwrap().unwrap().epoch
        )
    );
    assert_eq!(st.get("x").unwrap().unwrap(), b"");
    assert_eq!(st.vec_set("x", &[1.0]), Err(Error::Dim));
    assert_eq!(st.vec_set("x", &[f32::NAN, 0.0, 0.0, 0.0]), Err(Error::NaN));

    let q = [1.0, 0.1, 0.0, 0.0];
    let r = st.vec_search(&Query::vector(&q).k(2)).unwrap();
    let keys: Vec<_> = r.hits.iter().map(|h| h.key_str().unwrap()).collect();
    assert_eq!(keys, ["x", "xy"]);
    assert_eq!((r.scanned, r.skipped), (4, 0));
    let l2 = st
        .vec_search(&Query::vector(&[0.0, 0.0, 1.0, 0.0]).k(1).metric(Metric::L2))
        .unwrap();
    assert_eq!(l2.hits[0].key_str(), Some("other:z"));
    assert!(l2.hits[0].score.abs() < 1e-6);
    let lab = st
        .vec_search(&Query::vector(&[1.0; 4]).k(4).labels(0b10))
        .unwrap();
    assert_eq!(lab.hits.len(), 1);
    let pre = st
        .vec_search(
            &Query::vector(&[1.0; 4])
                .k(4)
                .prefix("other:")
                .metric(Metric::Dot),
        )
        .unwrap();
    assert_eq!(pre.hits[0].key_str(), Some("other:z"));
    let by_key = st
        .vec_search(&Query::key("x").k(1).skip_self(true).threads(2))
        .unwrap();
    assert_eq!(by_key.hits[0].key_str(), Some("xy"));
    assert_eq!(
        st.vec_search(&Query::vector(&q).k(0)).unwrap_err(),
        Error::Invalid
    );

    assert!(st.vec_clear("y").unwrap());
    assert!(!st.vec_clear("y").unwrap());
    assert_eq!(st.vec_get("y").unwrap(), None);
    assert_eq!(st.vec_get("nope").unwrap(), None);
    assert!([
        "avx512vnni",
        "avx512",
        "avxvnni",
        "avx2",
        "sse",
        "neon",
        "scalar"
    ]
    .contains(&splinter::vec_simd()));
    assert_eq!(splinter::vec_simd_force("nonsense"), Err(Error::NotSup));
}

#[test]
fn a_build_without_vectors_refuses_them() {
    if has_vectors() {
        return skipped(
            "a_build_without_vectors_refuses_them",
            "this build has vectors",
        );
    }
    assert_eq!(splinter::vec_simd_force("scalar"), Err(Error::NotSup));
    assert_eq!(
        Store::memfd(&Options::new().slots(16).vec_dim(4)).err(),
        Some(Error::Format)
    );
    let st = mem(0);
    assert_eq!(st.info().unwrap().features & 1, 0); // no SPL_FEAT_EMBEDDINGS
    st.set("a", b"text").unwrap();
    assert_eq!(st.vec_set("a", &[1.0]), Err(Error::NotSup));
    assert_eq!(st.vec_get("a").err(), Some(Error::NotSup));
    assert_eq!(st.vec_clear("a").err(), Some(Error::NotSup));
    assert_eq!(
        st.vec_search(&Query::vector(&[1.0]).k(1)).err(),
        Some(Error::NotSup)
    );
    assert_eq!(
        st.vec_search(&Query::key("a").k(1)).err(),
        Some(Error::NotSup)
    );
    assert_eq!(
        st.tandem_vec_set("t", &[[1.0f32]]).err(),
        Some(Error::NotSup)
    );
    assert_eq!(st.get("a").unwrap().unwrap(), b"text");
}

#[test]
fn tandem() {
    let st = mem(0);
    st.tandem_set("t", &[&b"a"[..], b"bb", b"ccc"]).unwrap();
    assert_eq!(st.tandem_count("t").unwrap(), 3);
    assert_eq!(st.tandem_key("t", 2).unwrap(), b"t.2");
    assert_eq!(st.tandem_get("t", 1).unwrap().unwrap(), b"bb");
    assert_eq!(st.tandem_get("t", 5).unwrap(), None);
    assert_eq!(st.tandem_unset("t").unwrap(), 3);
    assert_eq!(st.tandem_get("t", 0).unwrap(), None);
}

#[test]
fn tandem_vectors() {
    if !has_vectors() {
        return skipped("tandem_vectors", NO_VECTORS);
    }
    let st = mem(4);
    st.tandem_vec_set("tv", &[[1.0f32, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]])
        .unwrap();
    assert_eq!(
        st.tandem_vec_get("tv", 1).unwrap().unwrap(),
        vec![0.0, 2.0, 0.0, 0.0]
    );
    assert_eq!(st.tandem_unset("tv").unwrap(), 2);
    assert_eq!(st.tandem_vec_get("tv", 0).unwrap(), None);
}

#[test]
fn version_follows_the_library() {
    use splinter::sys::*;
    assert_eq!(
        splinter::VERSION,
        format!("{SPL_VERSION_MAJOR}.{SPL_VERSION_MINOR}.{SPL_VERSION_PATCH}")
    );
    let h = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../include/splinter.h"
    ))
    .unwrap();
    assert!(h.contains(&format!("#define SPL_VERSION_MAJOR {SPL_VERSION_MAJOR}")));
    assert!(h.contains(&format!("#define SPL_VERSION_MINOR {SPL_VERSION_MINOR}")));
    assert!(h.contains(&format!("#define SPL_VERSION_PATCH {SPL_VERSION_PATCH}")));
}

#[test]
fn prepared_and_c_string_keys() {
    use splinter::Key;
    use std::ffi::CString;
    let st = mem(0);
    let k = Key::new("prepared").unwrap();
    st.set(&k, b"1").unwrap();
    assert_eq!(st.get("prepared").unwrap().unwrap(), b"1");
    let c = CString::new("prepared").unwrap();
    assert_eq!(st.get(c.as_c_str()).unwrap().unwrap(), b"1");
    assert_eq!(st.get(&c).unwrap().unwrap(), b"1");
    assert_eq!(st.get(b"prepared").unwrap().unwrap(), b"1");
    assert_eq!(st.get(String::from("prepared")).unwrap().unwrap(), b"1");
    assert_eq!(st.get(b"prepared".to_vec()).unwrap().unwrap(), b"1");
    assert_eq!(Key::new("a\0b"), Err(Error::Invalid));
    assert_eq!(k.as_bytes(), b"prepared");
    let long = "x".repeat(200); // past the stack buffer: the heap path
    assert_eq!(st.set(&long, b"v"), Err(Error::KeyLen));
    assert_eq!(st.get(format!("{long}\0")), Err(Error::Invalid));
}

#[test]
fn keys_of_every_short_length_and_a_nul_anywhere() {
    let st = Store::memfd(
        &Options::new()
            .slots(256)
            .key_max(128)
            .val_max(64)
            .vec_dim(0),
    )
    .unwrap();
    for n in 1..=127usize {
        let k: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
        st.set(&k, n.to_le_bytes()).unwrap();
        let c = std::ffi::CString::new(k.clone()).unwrap();
        assert_eq!(
            st.get(c.as_c_str()).unwrap().unwrap(),
            n.to_le_bytes(),
            "length {n}"
        );
        for at in 0..n {
            let mut bad = k.clone();
            bad[at] = 0;
            assert_eq!(st.get(&bad), Err(Error::Invalid), "NUL at {at} of {n}");
        }
        // high bytes (0x80..) are not mistaken for NULs
        let hi: Vec<u8> = (0..n).map(|i| 0x80 | (i as u8)).collect();
        assert_eq!(st.get(&hi).unwrap(), None);
    }
}

#[test]
fn prepared_key_round_trip() {
    let st = mem(0);
    let k = st.prepare("temp").unwrap();
    assert_eq!(k.key().as_bytes(), b"temp");
    assert_eq!(k.get().unwrap(), None);
    k.set(b"hot").unwrap();
    assert_eq!(k.get().unwrap().as_deref(), Some(&b"hot"[..]));
    assert_eq!(st.get("temp").unwrap().as_deref(), Some(&b"hot"[..]));
    assert_eq!(st.get(&k).unwrap().as_deref(), Some(&b"hot"[..])); // a Prepared is an AsKey
    let mut buf = [0u8; 8];
    assert_eq!(k.get_into(&mut buf).unwrap(), Some(3));
    st.set("temp", [9u8; 600]).unwrap();
    assert_eq!(k.get().unwrap().unwrap(), vec![9u8; 600]);
    assert!(k.unset().unwrap());
    assert!(!k.unset().unwrap());
    let c = splinter::Key::new("count").unwrap().prepare(&st).unwrap();
    assert_eq!(c.add(5).unwrap(), 5);
    assert_eq!(c.add(-2).unwrap(), 3);
    assert!(matches!(st.prepare("a\0b"), Err(Error::Invalid)));
    assert!(matches!(st.prepare("k".repeat(200)), Err(Error::KeyLen)));
}

#[test]
fn key_prepared_for_another_store_is_refused() {
    let a = mem(0);
    let b = mem(0);
    let k = a.prepare("a").unwrap();
    k.set(b"1").unwrap();
    let got = b.get_many(&[&k]);
    assert!(matches!(got[0], Err(Error::Invalid)), "{got:?}");
    let set = b.set_many(&[(&k, b"2")]);
    assert!(matches!(set[0], Err(Error::Invalid)), "{set:?}");
    assert_eq!(k.get().unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(b.get("a").unwrap(), None);
}

#[test]
fn batches_give_results_per_key() {
    let st = mem(0);
    let (a, b, c, big, missing) = (
        st.prepare("a").unwrap(),
        st.prepare("b").unwrap(),
        st.prepare("c").unwrap(),
        st.prepare("big").unwrap(),
        st.prepare("missing").unwrap(),
    );
    let r = st.set_many(&[
        (&a, &b"1"[..]),
        (&b, &b"22"[..]),
        (&c, &b"333"[..]),
        (&big, &[7u8; 1000][..]),
    ]);
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
    let got = st.get_many(&[&a, &b, &missing, &c, &big]);
    let got: Vec<Option<Vec<u8>>> = got.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        got,
        vec![
            Some(b"1".to_vec()),
            Some(b"22".to_vec()),
            None,
            Some(b"333".to_vec()),
            Some(vec![7u8; 1000])
        ]
    );
    assert!(st.get_many(&[]).is_empty());
    assert!(st.set_many::<&[u8]>(&[]).is_empty());
    assert_eq!(st.get("c").unwrap().as_deref(), Some(&b"333"[..]));
}

// ------------------------------------------------- placement, cells, info

/// A small store for the placement tests.
fn small() -> Options {
    Options::new().slots(16).key_max(16).val_max(64).vec_dim(0)
}

/// (HugePages_Total, HugePages_Free - HugePages_Rsvd, Hugepagesize in
/// bytes) from /proc/meminfo: the pool, the pages a new store can still
/// get (free pages may be reserved by another mapping), their size.
fn huge_pool() -> (u64, u64, u64) {
    let m = std::fs::read_to_string("/proc/meminfo").unwrap();
    let get = |k: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .map_or(0, |v| v.parse().unwrap())
    };
    let free = get("HugePages_Free:").saturating_sub(get("HugePages_Rsvd:"));
    (get("HugePages_Total:"), free, get("Hugepagesize:") * 1024)
}

#[test]
fn huge_pages_are_used_or_refused() {
    let (_, _, size) = huge_pool();
    assert!(size > 0, "no Hugepagesize in /proc/meminfo");
    for h in [HugePages::Default, HugePages::Size(size as u32)] {
        // another process may resize the pool meanwhile: try again then
        let mut tries = 0;
        loop {
            let (total, free, _) = huge_pool();
            let r = Store::memfd(&small().huge_pages(h));
            if huge_pool().0 != total && tries < 3 {
                tries += 1;
                continue;
            }
            if free == 0 {
                assert_eq!(r.unwrap_err(), Error::NoHuge, "{h:?}, no free huge page");
            } else {
                assert_eq!(r.unwrap().info().unwrap().page_bytes, size, "{h:?}");
            }
            break;
        }
    }
    let bad = Store::memfd(&small().huge_pages(HugePages::Size(3000)));
    assert_eq!(bad.unwrap_err(), Error::Invalid);
    let off = Store::memfd(&small().huge_pages(HugePages::Off)).unwrap();
    assert!(off.info().unwrap().page_bytes < size);
}

#[test]
fn numa_bind_to_a_missing_node_is_refused() {
    let r = Store::memfd(&small().numa(NumaMode::Bind, 1 << 63));
    assert!(
        matches!(r, Err(Error::NoNode) | Err(Error::NotSup)),
        "bind to node 63: {r:?}"
    );
    let r = Store::memfd(&small().numa(NumaMode::Default, 1));
    assert_eq!(r.unwrap_err(), Error::Invalid, "Default mode with a node");
}

#[test]
fn numa_bind_to_node_0() {
    match Store::memfd(&small().numa(NumaMode::Bind, 1)) {
        Ok(st) => {
            let i = st.info().unwrap();
            assert_eq!((i.numa_mode, i.numa_nodes), (Some(NumaMode::Bind), 1));
            // every page in memory is on node 0 (the header is written)
            assert!(i.numa_pages[0] > 0, "{i:?}");
            assert_eq!(i.numa_pages[0] + i.numa_absent, i.numa_sampled, "{i:?}");
        }
        Err(Error::NotSup) => {
            // a build without NUMA: the policy is unknown, nothing sampled
            let i = mem(0).info().unwrap();
            assert_eq!((i.numa_mode, i.numa_sampled), (None, 0));
            skipped("numa_bind_to_node_0", "no NUMA in this build or kernel");
        }
        Err(e) => panic!("bind to node 0: {e:?}"),
    }
}

#[test]
fn vec_cells_bound_the_vectors() {
    if !has_vectors() {
        return skipped("vec_cells_bound_the_vectors", NO_VECTORS);
    }
    let st = Store::memfd(&small().vec_dim(4).vec_cells(2)).unwrap();
    assert_eq!(st.info().unwrap().cells, 2);
    st.vec_set("a", &[1.0, 0.0, 0.0, 0.0]).unwrap();
    st.vec_set("b", &[0.0, 1.0, 0.0, 0.0]).unwrap();
    st.vec_set("a", &[0.0, 0.0, 1.0, 0.0]).unwrap(); // a rewrite needs no cell
    let i = st.info().unwrap();
    assert_eq!((i.cells, i.cells_used), (2, 2));
    assert_eq!(st.vec_set("c", &[1.0; 4]), Err(Error::NoCell));
    assert!(!st.exists("c").unwrap(), "a refused vector leaves no key");
    assert!(st.vec_clear("b").unwrap());
    assert_eq!(st.info().unwrap().cells_used, 1);
    st.vec_set("c", &[1.0; 4]).unwrap();
}

#[test]
fn info_reports_pages_identity_and_residency() {
    extern "C" {
        fn getpagesize() -> i32;
    }
    let n = name("info");
    let _cleanup = Cleanup(n.clone());
    let st = Store::create(&n, &small()).unwrap();
    st.set("k", b"v").unwrap();
    let i = st.info().unwrap();
    // SAFETY: no arguments.
    assert_eq!(i.page_bytes, unsafe { getpagesize() } as u64);
    assert_ne!(i.store_id, 0);
    assert!(
        0 < i.resident_bytes && i.resident_bytes <= i.region_bytes,
        "{i:?}"
    );
    let second = Store::open(&n, &Options::new()).unwrap();
    assert_eq!(second.info().unwrap().store_id, i.store_id);
    assert_ne!(mem(0).info().unwrap().store_id, i.store_id);
    Store::destroy(&n, &Options::new()).unwrap();
}
