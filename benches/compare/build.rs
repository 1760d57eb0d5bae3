//! With the `libzmq` feature: builds libzmq 4.3 from the source that the `zeromq-src` crate
//! ships, with CURVE over the static libsodium that `libsodium-sys-stable` built from source
//! (ZMQ_HAVE_CURVE and ZMQ_USE_LIBSODIUM, as libzmq's releases ship CURVE; not tweetnacl), and
//! links it into this package (src/libzmq.rs declares the functions the libzmq peer calls).
//! Without the feature it does nothing, so no C or C++ compiler is needed.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "libzmq")]
    build_libzmq();
}

#[cfg(feature = "libzmq")]
fn build_libzmq() {
    // libsodium-sys-stable has `links = "sodium"`: its build script's `include` and `lib`
    // lines reach ours as DEP_SODIUM_INCLUDE and DEP_SODIUM_LIB.
    let include = std::env::var("DEP_SODIUM_INCLUDE")
        .expect("DEP_SODIUM_INCLUDE (libsodium-sys-stable's include directory)");
    let lib =
        std::env::var("DEP_SODIUM_LIB").expect("DEP_SODIUM_LIB (libsodium-sys-stable's library)");
    // libzmq 4.3.4's sources draw a few compiler warnings (unused parameters, a fall-through,
    // GCC's bounds checks in curve_client_tools.hpp). Cargo repeats a local package's build
    // script warnings on every build, so they are turned off (-w: no effect on the code);
    // any CXXFLAGS from the environment are kept.
    let cxxflags = std::env::var("CXXFLAGS").unwrap_or_default();
    std::env::set_var("CXXFLAGS", format!("{cxxflags} -w"));
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib, include)))
        .build();
}
