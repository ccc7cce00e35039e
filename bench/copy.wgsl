// The yardstick: copy a buffer, 16 bytes per thread. A kernel that reads its weights at the
// copy kernel's bandwidth is as fast as memory allows on this device.

@group(0) @binding(0) var<storage, read> src: array<vec4u>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4u>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = id.y * groups.x * 64u + id.x;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}
