/** Byte counts as people read them in messages and reports. */

/** `bytes` in MiB with one decimal: "0.1 MiB", "256.0 MiB". */
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
