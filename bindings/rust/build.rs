//! Links libsplinter built by the repository's Makefile.
//!
//! Where: `$SPLINTER_LIB_DIR` if set, else `../../build` relative to this
//! crate (the repository's `make` output).
//! How: statically, to `libsplinter.a` (plus -lpthread -lm), so a binary
//! needs no libsplinter.so at run time.  `SPLINTER_LINK=dylib` links
//! `libsplinter.so` instead, with an rpath to that folder; with neither file
//! in the folder, the system's (`make install`) library is linked
//! dynamically by name.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SPLINTER_LIB_DIR");
    println!("cargo:rerun-if-env-changed=SPLINTER_LINK");
    println!("cargo:rerun-if-env-changed=SPLINTER_EXTRA_LIBS");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let dir = match env::var_os("SPLINTER_LIB_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest.join("..").join("..").join("build"),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let dylib = env::var("SPLINTER_LINK")
        .map(|v| v == "dylib")
        .unwrap_or(false);
    let a = dir.join("libsplinter.a");
    let so = dir.join("libsplinter.so");
    if !dylib && a.exists() {
        println!("cargo:rerun-if-changed={}", a.display());
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static=splinter");
        // what the static library needs beyond libc's (the Makefile passes
        // -lnuma for a WITH_NUMA=1 build)
        for l in env::var("SPLINTER_EXTRA_LIBS")
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Some(name) = l.strip_prefix("-l") {
                println!("cargo:rustc-link-lib=dylib={}", name);
            }
        }
    } else if so.exists() {
        println!("cargo:rerun-if-changed={}", so.display());
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=splinter");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    } else {
        println!(
            "cargo:warning=libsplinter not found in {} (run `make lib` at the repository \
             root or set SPLINTER_LIB_DIR); linking the system's libsplinter",
            dir.display()
        );
        println!("cargo:rustc-link-lib=dylib=splinter");
    }
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rustc-link-lib=m");
    println!(
        "cargo:include={}",
        manifest.join("..").join("..").join("include").display()
    );
}
