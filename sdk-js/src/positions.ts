/**
 * Positions is a subscription's resume bookkeeping: per partition, the
 * offset of the next event the app should get. It decides which events
 * reach the app (exactly once, in order per partition, across reconnects)
 * and where a resumed subscription starts.
 */
export class Positions {
  private next = new Map<number, number>();

  /**
   * started records where the server says each partition starts (a
   * subscribed frame's offsets). A partition the SDK already follows keeps
   * its own position when the server starts at or before it (the events
   * before it were delivered); when the server starts after it, events in
   * between are gone (retention) and the server's start is taken.
   */
  started(offsets: Record<string, number>): void {
    for (const k in offsets) {
      const p = Number(k);
      const at = offsets[k];
      const mine = this.next.get(p);
      if (mine === undefined || at > mine) this.next.set(p, at);
    }
  }

  /**
   * accept says whether the event at offset of partition should reach the
   * app: false for one already delivered (a resumed subscription's
   * overlap); true otherwise, and the position moves past it.
   */
  accept(partition: number, offset: number): boolean {
    const mine = this.next.get(partition);
    if (mine !== undefined && offset < mine) return false;
    this.next.set(partition, offset + 1);
    return true;
  }

  /** skip moves partition's position to offset (events before it cannot be read). */
  skip(partition: number, offset: number): void {
    const mine = this.next.get(partition);
    if (mine === undefined || offset > mine) this.next.set(partition, offset);
  }

  /** forget drops partitions, e.g. those a group took away. */
  forget(partitions: Iterable<number>): void {
    for (const p of partitions) this.next.delete(p);
  }

  /** Whether any partition has a position. */
  get empty(): boolean {
    return this.next.size === 0;
  }

  /** The next offset of partition, if known. */
  get(partition: number): number | undefined {
    return this.next.get(partition);
  }

  /** The positions as a subscribe frame's {"offsets": ...} wants them. */
  toOffsets(only?: Iterable<number>): Record<string, number> {
    const out: Record<string, number> = {};
    if (only) {
      for (const p of only) {
        const v = this.next.get(p);
        if (v !== undefined) out[String(p)] = v;
      }
      return out;
    }
    for (const [p, v] of [...this.next].sort((a, b) => a[0] - b[0])) out[String(p)] = v;
    return out;
  }
}
