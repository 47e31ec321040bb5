//! Names the shared library for what it is installed as. Cargo builds `libcallgate_ffi.so`
//! (the crate's library is `callgate_ffi`, as `callgate` is the engine's); the package installs
//! it as `libcallgate.so`, and a program linked against it must ask for that name.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcallgate.so");
}
