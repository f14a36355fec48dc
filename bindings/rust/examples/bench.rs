//! Get and set latency of 64-byte values through the safe API against the
//! C library in the same process, on the workload every binding's bench
//! runs (bench/bindings/c_loop.h, mirrored here; bench/bindings/README.md):
//! --keys keys "key:%08u" in a memfd store, hot = 8 keys in turn, random =
//! xorshift32.
//! - "C": libsplinter's spl_get / spl_set called directly through
//!   `splinter::sys` with NUL-terminated keys (what a C caller compiles
//!   to), two ways: pipelined (the CPU overlapping successive gets' cache
//!   misses) and dependent (each get's key waits on the previous get's
//!   value: one get's latency);
//! - "rust": the safe API with prepared keys (`splinter::Key`) and with
//!   `&str` keys (copied to a NUL-terminated stack buffer per call).
//!
//! Rounds of --ops operations alternate all four; the figure is the
//! fastest round by the wall clock (the median beside it in the JSON), as
//! in the other benches; the thread's CPU clock is in the JSON too.  Prints
//! a table and one JSON line.
use std::ffi::CString;
use std::hint::black_box;
use std::os::raw::c_void;
use std::time::Instant;

use splinter::{sys, Key, Options, Store};

fn arg(args: &[String], name: &str, def: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .map(|i| args[i + 1].clone())
        .unwrap_or_else(|| def.to_string())
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}
extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn cpu_ns() -> u64 {
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: an out struct.
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.sec as u64 * 1_000_000_000 + t.nsec as u64
}

/// (wall, cpu) ns per op of one round.
fn time(ops: usize, f: impl FnOnce()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_ns());
    f();
    let cpu = (cpu_ns() - c) as f64 / ops as f64;
    (t.elapsed().as_nanos() as f64 / ops as f64, cpu)
}

/// c_loop.h's splb_order.
fn order(n: usize, keys: u32, random: bool) -> Vec<u32> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if random {
                x % keys
            } else {
                (i as u32 & 7) * (keys / 8)
            }
        })
        .collect()
}

fn min(v: &[f64]) -> f64 {
    v.iter().cloned().fold(f64::MAX, f64::min)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u32 = arg(&args, "--keys", "100000").parse().unwrap();
    let ops: usize = arg(&args, "--ops", "200000").parse().unwrap();
    let rounds: usize = arg(&args, "--rounds", "15").parse().unwrap();
    assert!(
        keys >= 8 && ops > 0 && rounds > 0,
        "--keys >= 8, --ops > 0, --rounds > 0"
    );

    let mut slots = 1u32; // c_loop.h's splb_slots
    while (slots as f64) < keys as f64 * 2.5 {
        slots <<= 1;
    }
    let st = Store::memfd(
        &Options::new()
            .slots(slots)
            .key_max(32)
            .val_max(64)
            .vec_dim(0),
    )
    .unwrap();
    let names: Vec<String> = (0..keys).map(|i| format!("key:{i:08}")).collect();
    let prepared: Vec<Key> = names.iter().map(|k| Key::new(k).unwrap()).collect();
    let cnames: Vec<CString> = names
        .iter()
        .map(|k| CString::new(k.as_str()).unwrap())
        .collect();
    let val = [0x5au8; 64];
    for k in &names {
        st.set(k, val).unwrap();
    }
    let p = st.as_ptr();
    let mut buf = [0u8; 64];
    let bp = buf.as_mut_ptr() as *mut c_void;
    let vp = val.as_ptr() as *const c_void;
    // The dependent loop's mask: 0, unknown to the compiler.
    let mask = black_box(0u32);
    let mut rows = Vec::new();
    let mut js = Vec::new();
    for (op, is_set) in [("get", false), ("set", true)] {
        for (pattern, random) in [("hot", false), ("random", true)] {
            let seq = order(ops, keys, random);
            // [C, C dependent, rust Key, rust &str] x rounds, (wall, cpu)
            let mut t: [Vec<(f64, f64)>; 4] = Default::default();
            for r in 0..=rounds {
                let mut len = 0usize;
                let c = time(ops, || {
                    for &i in &seq {
                        let k = cnames[i as usize].as_ptr();
                        black_box(unsafe {
                            if is_set {
                                sys::spl_set(p, k, vp, 64)
                            } else {
                                sys::spl_get(p, k, bp, 64, &mut len)
                            }
                        });
                    }
                });
                let d = time(ops, || {
                    let mut carry = 0u32;
                    for &i in &seq {
                        let k = cnames[(i + carry) as usize].as_ptr();
                        // SAFETY: a live store, a NUL-terminated key, a 64-byte buffer.
                        unsafe {
                            if is_set {
                                carry = sys::spl_set(p, k, vp, 64) as u32 & mask;
                            } else {
                                sys::spl_get(p, k, bp, 64, &mut len);
                                carry = std::ptr::read_volatile(bp as *const u8) as u32 & mask;
                            }
                        }
                    }
                });
                let rk = time(ops, || {
                    for &i in &seq {
                        let k = &prepared[i as usize];
                        if is_set {
                            st.set(k, val).unwrap();
                        } else {
                            black_box(st.get_into(k, &mut buf).unwrap());
                        }
                    }
                });
                let rs = time(ops, || {
                    for &i in &seq {
                        let k = names[i as usize].as_str();
                        if is_set {
                            st.set(k, val).unwrap();
                        } else {
                            black_box(st.get_into(k, &mut buf).unwrap());
                        }
                    }
                });
                if r > 0 {
                    // round 0 warms up
                    for (v, x) in t.iter_mut().zip([c, d, rk, rs]) {
                        v.push(x);
                    }
                }
            }
            let wall: Vec<Vec<f64>> = t.iter().map(|v| v.iter().map(|x| x.0).collect()).collect();
            let cpu: Vec<f64> = t
                .iter()
                .map(|v| min(&v.iter().map(|x| x.1).collect::<Vec<_>>()))
                .collect();
            let m: Vec<f64> = wall.iter().map(|v| min(v)).collect();
            let md: Vec<f64> = wall.iter().map(|v| median(v)).collect();
            rows.push(format!(
                "{op:<4}{pattern:<7} {:>7.1} ({:>6.1}) {:>8.1} {:>8.1} ({:>6.1}) {:>6.2}x {:>9.1} {:>6.2}x",
                m[0],
                md[0],
                m[1],
                m[2],
                md[2],
                m[2] / m[0],
                m[3],
                m[3] / m[0]
            ));
            js.push(format!(
                "{{\"op\":\"{op}\",\"pattern\":\"{pattern}\",\"c_ns\":{:.1},\"c_dep_ns\":{:.1},\"rust_ns\":{:.1},\
                 \"rust_str_ns\":{:.1},\"ratio\":{:.3},\"ratio_str\":{:.3},\"meets_target\":{},\
                 \"c_median_ns\":{:.1},\"rust_median_ns\":{:.1},\"c_cpu_ns\":{:.1},\"c_dep_cpu_ns\":{:.1},\
                 \"rust_cpu_ns\":{:.1},\"rust_str_cpu_ns\":{:.1}}}",
                m[0],
                m[1],
                m[2],
                m[3],
                m[2] / m[0],
                m[3] / m[0],
                m[2] / m[0] <= 1.1,
                md[0],
                md[2],
                cpu[0],
                cpu[1],
                cpu[2],
                cpu[3]
            ));
        }
    }
    println!(
        "rust binding vs C, 64-byte values, {keys} keys, {rounds} rounds of {ops} ops (fastest round; median in brackets)"
    );
    println!(
        "{:<11} {:>16} {:>8} {:>17} {:>7} {:>9} {:>7}",
        "", "C", "C dep", "rust Key", "/C", "rust &str", "/C"
    );
    for r in rows {
        println!("{r}");
    }
    println!(
        "{{\"lang\":\"rust\",\"keys\":{keys},\"ops\":{ops},\"rounds\":{rounds},\"value_bytes\":64,\"target_ratio\":1.1,\"results\":[{}]}}",
        js.join(",")
    );
}
