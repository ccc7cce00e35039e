/** Byte counts as people read them in messages and reports. */

/** `bytes` in MiB with one decimal: "0.1 MiB", "256.0 MiB". */
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `bytes` in the unit that reads best, as a browser's downloads list writes it: "148 KB", "5.5 MB", "1.62 GB" (units of 1,024). */
export function readableSize(bytes: number): string {
  if (bytes < 2 ** 20) return `${bytes === 0 ? 0 : Math.max(1, Math.round(bytes / 2 ** 10))} KB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MB`;
  return `${(bytes / 2 ** 30).toFixed(2)} GB`;
}
