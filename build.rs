//! Compiles `proto/` with protox, a pure-Rust protobuf compiler, so that building the
//! provider needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/tfplugin6.proto", "proto/go_plugin.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_transport(false).compile_fds(descriptors)?;
    Ok(())
}
