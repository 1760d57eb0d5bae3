//! Builds libzmq 4.3.5 from the source `zeromq-src` ships, with its draft API
//! (ZMQ_BUILD_DRAFT_API: the draft socket types and options), and links it statically.
//! No CURVE: none of these tests need it, and leaving libsodium out keeps the build short.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // libzmq's sources draw a few compiler warnings, which cargo would repeat on every build
    // of a local package; -w silences them without changing the code. CXXFLAGS are kept.
    let cxxflags = std::env::var("CXXFLAGS").unwrap_or_default();
    std::env::set_var("CXXFLAGS", format!("{cxxflags} -w"));
    zeromq_src::Build::new().enable_draft(true).build();
}
