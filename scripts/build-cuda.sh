#!/usr/bin/env bash
# Builds the CUDA binary of shatterlab on a Linux machine without a GPU or a CUDA install.
#
# NVIDIA's PyPI wheels, pinned to one CUDA 13.0 release, go into a venv outside the
# repository; a folder of links makes them look like a CUDA toolkit (CUDA_ROOT); the driver
# library, which is not on PyPI, is replaced at link time by a generated stub; then cargo
# builds the stripped release binary. On a GPU machine the binary loads the real driver and
# the CUDA 13 libraries (LD_LIBRARY_PATH: see docs/cuda.md).
#
# Usage: scripts/build-cuda.sh [--toolchain DIR] [--features LIST] [--compute-cap N]
#                              [--toolchain-only]
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/build-cuda.sh [options]

  --toolchain DIR    where the pinned CUDA toolchain lives (a venv and a CUDA_ROOT folder);
                     default $SHATTERLAB_CUDA_TOOLCHAIN, else
                     ${XDG_CACHE_HOME:-$HOME/.cache}/shatterlab-cuda
  --features LIST    cargo features: cuda (default) or cuda,cudnn
  --compute-cap N    GPU compute capability of the kernels: 90 (H100/H200, default), 80, ...
  --toolchain-only   set up the toolchain and the stub, print the environment, build nothing
  -h, --help         this text

Cargo honours CARGO_TARGET_DIR and CARGO_BUILD_JOBS as usual.
EOF
}

die() {
    echo "build-cuda.sh: $*" >&2
    exit 2
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
toolchain=${SHATTERLAB_CUDA_TOOLCHAIN:-${XDG_CACHE_HOME:-$HOME/.cache}/shatterlab-cuda}
features=cuda
compute_cap=90
toolchain_only=false
while [[ $# -gt 0 ]]; do
    case $1 in
    --toolchain) toolchain=${2:?--toolchain needs a directory}; shift 2 ;;
    --features) features=${2:?--features needs a list}; shift 2 ;;
    --compute-cap) compute_cap=${2:?--compute-cap needs a number}; shift 2 ;;
    --toolchain-only) toolchain_only=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
case ,$features, in
*,cuda,*) ;;
*) die "--features $features: expected a list with cuda, e.g. cuda or cuda,cudnn" ;;
esac
[[ $compute_cap =~ ^[0-9]+$ ]] || die "--compute-cap $compute_cap: expected a number such as 90"
case $toolchain in
"$repo" | "$repo"/*) die "--toolchain $toolchain: expected a directory outside the repository" ;;
esac

# One CUDA 13.0 release. Unpinned, pip pulls a newer nvvm whose PTX the 13.0 ptxas rejects.
wheels=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-cccl==13.0.85
    nvidia-cuda-nvrtc==13.0.88
    nvidia-cublas==13.1.0.3
    nvidia-curand==10.4.0.35
)
# cudarc's `cudnn` feature binds cuDNN 9.21.
[[ ,$features, == *,cudnn,* ]] && wheels+=(nvidia-cudnn-cu13==9.21.1.3)

venv=$toolchain/venv
root=$toolchain/root
stamp=$toolchain/installed.txt
mkdir -p "$toolchain"
if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
if ! [[ -f $stamp ]] || [[ "$(cat "$stamp")" != "${wheels[*]}" ]]; then
    echo "installing the pinned CUDA wheels into $venv"
    # --no-deps: every wheel the build needs is listed, at the version listed.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${wheels[@]}"
    echo "${wheels[*]}" >"$stamp"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cu=$site/nvidia/cu13
[[ -x $cu/bin/nvcc ]] || die "no nvcc in $cu/bin after installing the wheels"

# CUDA_ROOT: bin, include and nvvm as they are; lib with each library under its own name and
# the unversioned one the linker asks for (-lcublas -> libcublas.so); lib/stubs with the
# driver stub.
rm -rf "$root"
mkdir -p "$root/lib/stubs"
for d in bin include nvvm; do ln -s "$cu/$d" "$root/$d"; done
for lib in "$cu"/lib/lib*.so.* "$site"/nvidia/cudnn/lib/libcudnn*.so.*; do
    [[ -e $lib ]] || continue
    name=$(basename "$lib")
    ln -sf "$lib" "$root/lib/$name"
    ln -sf "$lib" "$root/lib/${name%%.so.*}.so"
done

export CUDA_ROOT=$root CUDA_PATH=$root CUDA_HOME=$root
export CUDA_COMPUTE_CAP=$compute_cap CUDARC_CUDA_VERSION=13000
export PATH=$root/bin:$PATH

# The driver stub, libcuda.so.1: one function for every cu* entry point cudarc binds, each
# returning CUDA_ERROR_STUB_LIBRARY (34), so a binary that meets the stub at run time fails
# with that error instead of misbehaving. The real driver replaces it on a GPU machine.
cd "$repo"
cudarc=$(cargo metadata --format-version 1 --locked --features cuda |
    "$venv/bin/python" -c '
import json, os, sys
meta = json.load(sys.stdin)
paths = [p["manifest_path"] for p in meta["packages"] if p["name"] == "cudarc"]
if len(paths) != 1:
    sys.exit("expected one cudarc package in cargo metadata, found %d" % len(paths))
print(os.path.dirname(paths[0]))
')
bindings=$cudarc/src/driver/sys/mod.rs
entry_points=$(grep -oE 'pub unsafe fn cu[A-Za-z0-9_]+\(' "$bindings" | sed 's/^pub unsafe fn //; s/($//' | sort -u)
[[ -n $entry_points ]] || die "no cu* functions found in $bindings"
{
    echo "/* Generated by scripts/build-cuda.sh from $bindings: a link-time stand-in for libcuda.so.1. */"
    for f in $entry_points; do echo "int $f(void) { return 34; }"; done
} >"$root/lib/stubs/cuda-stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so.1" "$root/lib/stubs/cuda-stub.c"
ln -s libcuda.so.1 "$root/lib/stubs/libcuda.so"

echo "toolchain: $toolchain (nvcc $("$root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
if $toolchain_only; then
    echo "export CUDA_ROOT=$root CUDA_PATH=$root CUDA_HOME=$root CUDA_COMPUTE_CAP=$compute_cap CUDARC_CUDA_VERSION=13000 PATH=$root/bin:\$PATH"
    exit 0
fi

target=${CARGO_TARGET_DIR:-$repo/target}
start=$(date +%s)
CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --locked --features "$features"
binary=$target/release/shatterlab
bytes=$(stat -c %s "$binary")
echo "built $binary: $((bytes / 1024 / 1024)) MiB ($bytes bytes, stripped), features $features, sm_$compute_cap, in $(($(date +%s) - start)) s"
echo "it needs, on the GPU machine: $(readelf -d "$binary" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | grep -E 'cu|nvrtc' | tr '\n' ' ')"
