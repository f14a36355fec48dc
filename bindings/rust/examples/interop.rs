//! The Rust side of the cross-language test (tests/interop/run.py):
//! `interop STORE ROLE [ARGS]`; roles and values as in tests/interop/README.md.
use splinter::{Metric, Options, Query, Store};
use std::io::Write;
use std::process::exit;
use std::time::Duration;

const LANGS: [&str; 5] = ["c", "py", "node", "rust", "go"];
const NKEYS: usize = 4;
const HAM_MIN: usize = 65536;
const HAM_STEP: usize = 16384;

fn expect(lang: &str, i: usize) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(lang.as_bytes());
    v.push(0);
    v.extend(0..=255u8);
    v.extend(std::iter::repeat(255 - i as u8).take(i + 1));
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: interop STORE kv N|hammer|search F...");
        exit(2);
    }
    let st = Store::open(&args[1], &Options::new()).unwrap_or_else(|e| {
        println!("FAIL open: {}", e.name());
        exit(1)
    });
    match args[2].as_str() {
        "kv" => {
            for i in 0..NKEYS {
                st.set(format!("rust.k{i}"), expect("rust", i))
                    .expect("set");
            }
            let n: u64 = args[3].parse().expect("N");
            for _ in 0..n {
                st.inc("ctr").expect("inc");
            }
            for lang in LANGS {
                for i in 0..NKEYS {
                    let key = format!("{lang}.k{i}");
                    let mut got = None;
                    for _ in 0..3000 {
                        got = st.get(key.as_str()).expect("get");
                        if got.is_some() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    if got.as_deref() != Some(&expect(lang, i)[..]) {
                        println!("FAIL {key}: differs ({:?} bytes)", got.map(|g| g.len()));
                        exit(1);
                    }
                }
            }
            println!("ok rust read {} keys", LANGS.len() * NKEYS);
        }
        "hammer" => {
            let mut it: usize = 0;
            loop {
                let n = HAM_MIN + (it % 8) * HAM_STEP;
                st.set("rust.h", vec![(it & 0xff) as u8; n]).expect("set");
                st.inc("rust.hn").expect("inc");
                if it == 0 {
                    println!("ready");
                    std::io::stdout().flush().ok();
                }
                it += 1;
            }
        }
        "search" => {
            let q: Vec<f32> = args[3..]
                .iter()
                .map(|a| a.parse().expect("float"))
                .collect();
            let r = st
                .vec_search(&Query::vector(&q).k(10).metric(Metric::Cosine))
                .expect("search");
            for h in r.hits {
                println!("hit {} {:.9}", h.key_str().unwrap_or("?"), h.score);
            }
        }
        _ => exit(2),
    }
}
