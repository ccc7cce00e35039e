#!/usr/bin/env bash
# Packs what the CLI and the benchmark need to run on a GPU server that has an NVIDIA driver
# but no Node, no network and perhaps no Vulkan loader, into .device/ (git-ignored, < 64 MiB):
#   node.xz               this machine's Node binary, compressed
#   app/                  the bundled CLI and benchmark (npm run build:node) and Dawn's binding
#   libvulkan1*.deb       the Vulkan loader, unpacked there only if missing
#   models/               the fixture target (f32, f16) and draft
#   run.sh                unpacks, points Vulkan at the NVIDIA driver, runs: run.sh bench --quick ...
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent build:node
rm -rf .device && mkdir -p .device/app/node_modules/webgpu/dist/linux-x64 .device/models
cp -r dist/node/. .device/app/
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .device/app/node_modules/webgpu/
xz -T0 -c node_modules/webgpu/dist/linux-x64/dawn.node > .device/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz
xz -T0 -c "$(command -v node)" > .device/node.xz
for model in tandem-target tandem-target-f16 tandem-draft; do
  mkdir -p ".device/models/$model"
  cp public/models/$model/{config.json,generation_config.json,model.safetensors,tokenizer.json,tokenizer_config.json} ".device/models/$model/"
done
(cd .device && apt-get download libvulkan1 >/dev/null 2>&1) || echo "warning: could not download libvulkan1; the server must have the Vulkan loader"

cat > .device/run.sh <<'RUN'
#!/usr/bin/env bash
# On the GPU server, from the repository root: bash .device/run.sh bench --quick --json $OUT/bench.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work=/tmp/tandem-device && mkdir -p "$work"
[ -x "$work/node" ] || { xz -dc "$here/node.xz" > "$work/node"; chmod +x "$work/node"; }
rm -rf "$work/app" && cp -r "$here/app" "$work/app"
dawn="$work/app/node_modules/webgpu/dist/linux-x64/dawn.node"
xz -dc "$dawn.xz" > "$dawn"
if ! ldconfig -p | grep 'libvulkan.so.1' >/dev/null; then
  for deb in "$here"/libvulkan1*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then export VK_ICD_FILENAMES="$nvidia_icd"; fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
command="$1"; shift
cd "$here"
case "$command" in
  bench) exec "$work/node" "$work/app/run.mjs" bench --target models/tandem-target --draft models/tandem-draft "$@" ;;
  *) exec "$work/node" "$work/app/run.mjs" "$command" "$@" ;;
esac
RUN
chmod +x .device/run.sh
du -sh .device
