#!/usr/bin/env bash
# Regenerates src/kms/proto.rs from proto/kms/v2/api.proto (the upstream k8s.io/kms/apis/v2 proto)
# with tonic-prost-build in a throwaway crate. Only needed when the proto changes: the generated
# file is committed, so building Portcullis needs no protoc. Installs protobuf-compiler if missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v protoc >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src" "$WORK/out"
cat > "$WORK/Cargo.toml" <<'TOML'
[package]
name = "kmsgen"
version = "0.0.0"
edition = "2021"
publish = false
[workspace]
[dependencies]
tonic-prost-build = "=0.14.9"
TOML
cat > "$WORK/src/main.rs" <<'RS'
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (out, repo) = (&a[1], std::path::Path::new(&a[2]));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .out_dir(out)
        .compile_protos(&[repo.join("proto/kms/v2/api.proto")], &[repo.join("proto")])
        .expect("compile proto/kms/v2/api.proto");
}
RS
(cd "$WORK" && CARGO_TARGET_DIR="$WORK/target" cargo run -q -- "$WORK/out" "$REPO")
{
    sed -n '1,/^\/\/ (End of the header/p' "$REPO/src/kms/proto.rs"
    cat "$WORK/out/v2.rs"
} > "$WORK/proto.rs"
mv "$WORK/proto.rs" "$REPO/src/kms/proto.rs"
echo "wrote src/kms/proto.rs"
