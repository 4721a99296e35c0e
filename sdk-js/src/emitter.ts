/**
 * A small typed event emitter: `on` returns a function that removes the
 * listener. A listener that throws does not stop the others; the error is
 * reported to `onListenerError` (the client's "error" event).
 */
export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  private listeners = new Map<keyof Events, Set<(arg: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(name: K, fn: (arg: Events[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn as (arg: never) => void);
    return () => this.off(name, fn);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof Events>(name: K, fn: (arg: Events[K]) => void): () => void {
    const off = this.on(name, (arg) => {
      off();
      fn(arg);
    });
    return off;
  }

  /** Removes a listener added with `on`. */
  off<K extends keyof Events>(name: K, fn: (arg: Events[K]) => void): void {
    this.listeners.get(name)?.delete(fn as (arg: never) => void);
  }

  /** Calls the listeners of `name` in the order they were added. */
  protected emit<K extends keyof Events>(name: K, arg: Events[K]): void {
    const set = this.listeners.get(name);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try {
        (fn as (arg: Events[K]) => void)(arg);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  /** Whether `name` has listeners. */
  protected hasListeners(name: keyof Events): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  /** Called when a listener throws; subclasses report it. */
  protected onListenerError(err: unknown): void {
    setTimeout(() => {
      throw err;
    }, 0);
  }
}
