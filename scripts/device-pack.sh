#!/usr/bin/env bash
# Packs what the CLI and the benchmark need to run on a GPU server that has an NVIDIA driver
# but no Node, no network and perhaps no Vulkan loader, into .device/ (git-ignored, ~28 MiB: it
# travels beside the checkout, so it is kept small). The models are read from public/models/ of
# the checkout it travels with.
#   node.xz               this machine's Node binary, without its debug symbols, compressed
#   app.tar.xz            the bundled CLI and benchmark (npm run build:node) and Dawn's binding
#   *.deb                 the Vulkan loader and glvnd, unpacked there only if missing
#   run.sh                unpacks, points Vulkan at the NVIDIA driver, runs: run.sh bench --quick ...
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
du -sh .device
