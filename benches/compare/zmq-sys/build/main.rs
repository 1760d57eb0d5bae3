//! Builds libzmq from source with zeromq-src, as the published zmq-sys 0.12.0 does; with the
//! `curve` feature, against the static libsodium that libsodium-sys-stable built (which
//! defines ZMQ_HAVE_CURVE and ZMQ_USE_LIBSODIUM: CURVE as libzmq's releases ship it).

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    let mut build = zeromq_src::Build::new();
    if std::env::var_os("CARGO_FEATURE_CURVE").is_some() {
        let include =
            std::env::var("DEP_SODIUM_INCLUDE").expect("libsodium-sys-stable's include dir");
        let lib = std::env::var("DEP_SODIUM_LIB").expect("libsodium-sys-stable's lib dir");
        // LibLocation::new takes the lib dir first.
        build.with_libsodium(Some(zeromq_src::LibLocation::new(lib, include)));
    } else {
        build.with_libsodium(None);
    }
    build.build();
}
