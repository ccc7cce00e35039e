/** Flags for headless Chromium: WebGPU on a software adapter where there is no GPU, or no WebGPU at all. */

export function chromiumArgs(webgpu: boolean): string[] {
  const quiet = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
  const gpu = webgpu
    ? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan']
    : ['--disable-gpu', '--disable-features=WebGPU,Vulkan'];
  return ['--no-sandbox', ...quiet, ...gpu];
}
