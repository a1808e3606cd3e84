#!/usr/bin/env bash
# The GPU check of a CUDA build (scripts/build-cuda.sh), for a GPU machine without Rust or a
# network: puts the CUDA 13 libraries that PyTorch's wheels ship on LD_LIBRARY_PATH, checks
# that the binary finds every library it needs, then runs scripts/gpu_check.py: CPU/GPU
# parity, GPU timings and the same workloads in PyTorch, in one JSON report and one table.
#
# Usage: scripts/gpu-check.sh --binary PATH [--device cuda:N] [--out DIR] [--data-dir DIR]
#                             [--quick] [--no-torch]      (--help: every option)
# PYTHON picks the interpreter (default python3, the one with torch).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
command -v "$python" >/dev/null || {
    echo "gpu-check: no $python (set PYTHON to an interpreter with torch)" >&2
    exit 2
}

binary=
args=("$@")
while [[ $# -gt 0 ]]; do
    case $1 in
    --binary) binary=${2:-}; shift 2 || shift ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    *) shift ;;
    esac
done

# The CUDA 13 libraries of the nvidia-* wheels next to torch (nvidia/cu13/lib, nvidia/*/lib).
libs=$("$python" - <<'EOF' 2>/dev/null || true
import glob, os
import nvidia
dirs = [d for p in nvidia.__path__ for d in sorted(glob.glob(os.path.join(p, "*", "lib")))]
print(":".join(d for d in dirs if glob.glob(os.path.join(d, "lib*.so*"))))
EOF
)
if [[ -n $libs ]]; then
    export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

if [[ -n $binary && -x $binary ]] && command -v ldd >/dev/null; then
    missing=$({ ldd "$binary" || true; } | awk '/not found/ {print $1}' | tr '\n' ' ')
    if [[ -n $missing ]]; then
        echo "gpu-check: $binary cannot start: ${missing}not found (needs the NVIDIA driver and the CUDA 13 libraries: install PyTorch built for CUDA 13, or put them on LD_LIBRARY_PATH)" >&2
        exit 2
    fi
fi
exec "$python" "$here/gpu_check.py" "${args[@]}"
