//! Get and set latency of 64-byte values, hot (one key) and random (uniform
//! over --keys keys), through the safe API against the C library in the
//! same run:
//! - "C": the same loop calling libsplinter's spl_get / spl_set directly
//!   (prepared NUL-terminated keys), in this process, interleaved with the
//!   binding's runs so both see the same machine;
//! - "rust": the safe API with prepared keys (`splinter::Key`), and with
//!   `&str` keys (copied to a NUL-terminated stack buffer per call);
//! - the C program bench/bindings/c_kv.c (`--c PATH`, its CPU-clock
//!   figures), run first, as a cross-check of the in-process C figures.
//!
//! Best of --reps runs each, by this thread's CPU clock (which leaves out
//! time other processes took from it on a busy machine; the wall-clock
//! figures are in the JSON too); prints a table and one JSON line.
use std::ffi::CString;
use std::hint::black_box;
use std::os::raw::c_void;
use std::process::Command;
use std::time::Instant;

use splinter::{sys, Key, Options, Store};

fn arg(args: &[String], name: &str, def: &str) -> String {
    args.iter().position(|a| a == name).map(|i| args[i + 1].clone()).unwrap_or_else(|| def.to_string())
}

fn json_num(s: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\":");
    let i = s.find(&pat)? + pat.len();
    s[i..].split([',', '}']).next()?.trim().parse().ok()
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

/// (cpu, wall) ns per op.
fn time(ops: usize, f: impl FnOnce()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_ns());
    f();
    let cpu = (cpu_ns() - c) as f64 / ops as f64;
    (cpu, t.elapsed().as_nanos() as f64 / ops as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u32 = arg(&args, "--keys", "100000").parse().unwrap();
    let ops: usize = arg(&args, "--ops", "2000000").parse().unwrap();
    let reps: u32 = arg(&args, "--reps", "5").parse().unwrap();
    let cbin = arg(&args, "--c", concat!(env!("CARGO_MANIFEST_DIR"), "/../../build/bench/bindings-c-kv"));

    let cprog = Command::new(&cbin)
        .args(["--keys", &keys.to_string(), "--ops", &ops.to_string(), "--reps", "3"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();

    let st = Store::memfd(&Options::new().slots(keys + keys / 3 + 16).key_max(32).val_max(256).vec_dim(0)).unwrap();
    let names: Vec<String> = (0..keys).map(|i| format!("key:{i:08}")).collect();
    let prepared: Vec<Key> = names.iter().map(|k| Key::new(k).unwrap()).collect();
    let cnames: Vec<CString> = names.iter().map(|k| CString::new(k.as_str()).unwrap()).collect();
    let val = [b'v'; 64];
    for k in &names {
        st.set(k, val).unwrap();
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let seq: Vec<u32> = (0..ops)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % keys as u64) as u32
        })
        .collect();
    let h = keys as usize / 2;
    let p = st.as_ptr();
    let mut buf = [0u8; 256];
    let bp = buf.as_mut_ptr() as *mut c_void;
    let vp = val.as_ptr() as *const c_void;
    // [op][c, rust Key, rust &str], CPU and wall
    let mut best = [[f64::MAX; 3]; 4];
    let mut wall = [[f64::MAX; 3]; 4];
    let mut put = |op: usize, who: usize, (c, w): (f64, f64)| {
        best[op][who] = best[op][who].min(c);
        wall[op][who] = wall[op][who].min(w);
    };
    for _ in 0..reps {
        let mut len = 0usize;
        // get hot
        put(0, 0, time(ops, || {
            for _ in 0..ops {
                black_box(unsafe { sys::spl_get(p, black_box(&cnames[h]).as_ptr(), bp, 256, &mut len) });
            }
        }));
        put(0, 1, time(ops, || {
            for _ in 0..ops {
                black_box(st.get_into(black_box(&prepared[h]), &mut buf).unwrap());
            }
        }));
        put(0, 2, time(ops, || {
            for _ in 0..ops {
                black_box(st.get_into(black_box(names[h].as_str()), &mut buf).unwrap());
            }
        }));
        // get random
        put(1, 0, time(ops, || {
            for &i in &seq {
                black_box(unsafe { sys::spl_get(p, cnames[i as usize].as_ptr(), bp, 256, &mut len) });
            }
        }));
        put(1, 1, time(ops, || {
            for &i in &seq {
                black_box(st.get_into(&prepared[i as usize], &mut buf).unwrap());
            }
        }));
        put(1, 2, time(ops, || {
            for &i in &seq {
                black_box(st.get_into(names[i as usize].as_str(), &mut buf).unwrap());
            }
        }));
        // set hot
        put(2, 0, time(ops, || {
            for _ in 0..ops {
                black_box(unsafe { sys::spl_set(p, black_box(&cnames[h]).as_ptr(), vp, 64) });
            }
        }));
        put(2, 1, time(ops, || {
            for _ in 0..ops {
                st.set(black_box(&prepared[h]), val).unwrap();
            }
        }));
        put(2, 2, time(ops, || {
            for _ in 0..ops {
                st.set(black_box(names[h].as_str()), val).unwrap();
            }
        }));
        // set random
        put(3, 0, time(ops, || {
            for &i in &seq {
                black_box(unsafe { sys::spl_set(p, cnames[i as usize].as_ptr(), vp, 64) });
            }
        }));
        put(3, 1, time(ops, || {
            for &i in &seq {
                st.set(&prepared[i as usize], val).unwrap();
            }
        }));
        put(3, 2, time(ops, || {
            for &i in &seq {
                st.set(names[i as usize].as_str(), val).unwrap();
            }
        }));
    }
    let names_ = ["get_hot", "get_random", "set_hot", "set_random"];
    println!("rust binding vs C, 64-byte values, {keys} keys, best of {reps} x {ops} ops (ns/op, CPU clock)");
    println!("{:<11} {:>8} {:>9} {:>7} {:>9} {:>7} {:>10}", "op", "C", "rust Key", "/C", "rust &str", "/C", "C program");
    let mut js = Vec::new();
    for (i, n) in names_.iter().enumerate() {
        let [c, rk, rs] = best[i];
        let [cw, rkw, rsw] = wall[i];
        let prog = json_num(&cprog, &format!("{n}_cpu"));
        println!(
            "{n:<11} {c:>8.1} {rk:>9.1} {:>6.2}x {rs:>9.1} {:>6.2}x {:>10}",
            rk / c,
            rs / c,
            prog.map_or("-".into(), |v| format!("{v:.1}"))
        );
        js.push(format!(
            "\"{n}\":{{\"c_ns\":{c:.1},\"rust_key_ns\":{rk:.1},\"rust_str_ns\":{rs:.1},\"ratio_key\":{:.3},\"ratio_str\":{:.3},\"wall_c_ns\":{cw:.1},\"wall_rust_key_ns\":{rkw:.1},\"wall_rust_str_ns\":{rsw:.1},\"c_program_ns\":{}}}",
            rk / c,
            rs / c,
            prog.map_or("null".into(), |v| format!("{v:.1}"))
        ));
    }
    println!("{{\"lang\":\"rust\",\"keys\":{keys},\"ops\":{ops},\"reps\":{reps},{}}}", js.join(","));
}
