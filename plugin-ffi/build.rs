//! Names the shared library for what it is installed as. Cargo builds `libcallgate_ffi.so`
//! (the crate's library is `callgate_ffi`, as `callgate` is the engine's); the package installs
//! it as `libcallgate.so`, and a program linked against it must ask for that name.

fn main() {
    // `-soname` is an ELF linker's flag (GNU ld, lld, gold); a Mach-O build would need
    // `-install_name` instead, and Windows has no such name.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcallgate.so");
    }
}
