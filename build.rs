//! Compiles the vendored flagd sync protocol (`proto/flagd/sync/v1/sync.proto`, Apache-2.0, from
//! open-feature/flagd-schemas) into prost messages and a tonic server. `protox` is a pure-Rust protobuf
//! compiler, so a fresh machine needs no `protoc`; the well-known `google.protobuf.Struct` comes
//! from `prost-types`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/flagd/sync/v1/sync.proto";
    println!("cargo:rerun-if-changed={proto}");
    let files = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(files)?;
    Ok(())
}
