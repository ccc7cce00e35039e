/**
 * The text of a load's progress, per file: which model and file, bytes so far of the total,
 * the speed since the file started and the time left at that speed.
 *
 *   Loading tandem-target/model.safetensors: 12.3 of 45.6 MB, 3.2 MB/s, 11 s left
 */

import type { FileProgress } from '../loader/source';

const MB = 2 ** 20;

export class LoadProgress {
  private readonly started = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The line for `progress` of a file of folder `folder`. */
  describe(folder: string, progress: FileProgress): string {
    const key = `${folder}/${progress.file}`;
    const started = this.started.get(key) ?? this.now();
    this.started.set(key, started);
    const seconds = (this.now() - started) / 1000;
    const parts = [
      `${(progress.loaded / MB).toFixed(1)}${progress.total ? ` of ${(progress.total / MB).toFixed(1)}` : ''} MB`,
    ];
    if (seconds >= 0.5 && progress.loaded > 0 && progress.loaded < progress.total) {
      const speed = progress.loaded / seconds;
      parts.push(
        `${(speed / MB).toFixed(1)} MB/s`,
        `${formatSeconds((progress.total - progress.loaded) / speed)} left`,
      );
    }
    return `Loading ${shortName(folder)}/${progress.file}: ${parts.join(', ')}`;
  }
}

/** A folder's last name (`…/mlc-ai/X/resolve/main/` is X). */
export function shortName(folder: string): string {
  const segments = folder.split(/[/\\]/).filter(Boolean);
  const resolve = segments.indexOf('resolve');
  return (resolve > 0 ? segments[resolve - 1] : segments.at(-1)) ?? folder;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.ceil((seconds % 3600) / 60)} min`;
}
