#!/usr/bin/env bash
# Packs what the CLI and the benchmark need to run on a GPU server that has an NVIDIA driver
# but no Node, no network and perhaps no Vulkan loader, into .device/ (git-ignored, ~28 MiB: it
# travels beside the checkout, so it is kept small). The models are read from public/models/ of
# the checkout it travels with.
#   node.xz               this machine's Node binary, without its debug symbols, compressed
#   app.tar.xz            the bundled CLI and benchmark (npm run build:node) and Dawn's binding
#   *.deb                 the Vulkan loader and glvnd, unpacked there only if missing
#   run.sh                unpacks, points Vulkan at the NVIDIA driver, runs: run.sh bench --quick ...
#   measure.sh            the benchmark's parts that answer the open goals, each with a time limit:
#                         measure.sh OUT [PART...] (bench/README.md, "On a GPU server without Node")
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent build:node
rm -rf .device && mkdir -p .device
app="$(mktemp -d)" && trap 'rm -rf "$app"' EXIT
mkdir -p "$app/node_modules/webgpu/dist/linux-x64"
cp -r dist/node/. "$app/"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$app/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$app/node_modules/webgpu/dist/linux-x64/"
tar -C "$app" -cf - . | xz -T0 > .device/app.tar.xz
# Debian's Node keeps its debug symbols: 12 MiB that the server does not need.
if command -v strip >/dev/null; then
  strip -o "$app/node" "$(command -v node)"
else
  cp "$(command -v node)" "$app/node"
fi
xz -T0 -c "$app/node" > .device/node.xz
# NVIDIA's Vulkan driver (libGLX_nvidia) needs the Vulkan loader and glvnd's libraries.
(cd .device && apt-get download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0 >/dev/null 2>&1) ||
  echo "warning: could not download the Vulkan loader and glvnd; the server must have them"

cat > .device/run.sh <<'RUN'
#!/usr/bin/env bash
# On the GPU server, from the repository root: bash .device/run.sh bench --quick --json out/bench.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work=/tmp/tandem-device && mkdir -p "$work"
[ -x "$work/node" ] || { xz -dc "$here/node.xz" > "$work/node"; chmod +x "$work/node"; }
rm -rf "$work/app" && mkdir -p "$work/app" && tar -C "$work/app" -xJf "$here/app.tar.xz"
if ! ldconfig -p | grep 'libvulkan.so.1' >/dev/null || ! ldconfig -p | grep 'libGLdispatch' >/dev/null; then
  for deb in "$here"/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then export VK_ICD_FILENAMES="$nvidia_icd"; fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
command="$1"; shift
cd "$here/.."
exec "$work/node" "$work/app/run.mjs" "$command" "$@"
RUN
chmod +x .device/run.sh

cat > .device/measure.sh <<'MEASURE'
#!/usr/bin/env bash
# On the GPU server, from the repository root: bash .device/measure.sh OUT [PART...]
# Runs each part with its own time limit (a part stopped at its limit keeps what its --json
# file holds), writing OUT/PART.json and OUT/PART.txt (the log), the SM and memory clocks
# every half second to OUT/clocks.csv, and OUT/results.tar.gz after each part. The default
# parts take about 580 s; `profile` (150 s), `cpu` (90 s: the quick decode suite with the
# CPU's time by function and by WebGPU call, bench/cpu-profile.ts and webgpu-calls.ts) and
# `quick` (a smoke test) are asked for by name.
set -u
out="$1"; shift
mkdir -p "$out"
here="$(cd "$(dirname "$0")" && pwd)"
parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(bench ttft shapes invariance)
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv -lms 500 > "$out/clocks.csv" 2>/dev/null &
  clocks=$!
fi
for part in "${parts[@]}"; do
  case "$part" in
    bench) limit=200; args=(--suite kernels,decode,memory) ;;
    ttft) limit=190; args=(--suite ttft) ;;
    shapes) limit=130; args=(--suite shapes --shape Llama) ;;
    invariance) limit=60; args=(--invariance --shape none --long 8300) ;;
    profile) limit=150; args=(--profile --shape "1B q4" --context 1024) ;;
    quick) limit=300; args=(--quick --suite kernels) ;;
    cpu) limit=90; args=(--quick --suite decode --cpu-profile "$out/cpu.cpuprofile") ;;
    *) echo "measure.sh: no part named $part (bench, ttft, shapes, invariance, profile, quick, cpu)" >&2; continue ;;
  esac
  start=$(date +%s)
  timeout "$limit" bash "$here/run.sh" bench "${args[@]}" --json "$out/$part.json" 2> "$out/$part.txt" > /dev/null
  echo "$part: exit $? after $(( $(date +%s) - start )) s (limit $limit s)" | tee -a "$out/parts.txt"
  tar -C "$out" --exclude results.tar.gz -czf "/tmp/results.$$.tar.gz" . && mv "/tmp/results.$$.tar.gz" "$out/results.tar.gz"
done
[ -n "${clocks:-}" ] && kill "$clocks" 2>/dev/null
exit 0
MEASURE
chmod +x .device/measure.sh
du -sh .device
