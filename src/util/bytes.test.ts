import { describe, expect, it } from 'vitest';
import { mib, readableSize } from './bytes';

describe('byte counts', () => {
  it('reads in the unit that fits', () => {
    expect(readableSize(0)).toBe('0 KB');
    expect(readableSize(100)).toBe('1 KB'); // something stored never reads as nothing
    expect(readableSize(151_552)).toBe('148 KB');
    expect(readableSize(5.5 * 2 ** 20)).toBe('5.5 MB');
    expect(readableSize(1.62 * 2 ** 30)).toBe('1.62 GB');
    expect(mib(2 ** 19)).toBe('0.5 MiB');
  });
});
