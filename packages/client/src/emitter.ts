export type Listener<T> = (payload: T) => void;

type ListenerSets<E> = { [K in keyof E]?: Set<Listener<E[K]>> };

/**
 * A tiny typed event emitter. A listener that throws does not break the client or the other
 * listeners: the error is reported asynchronously, like an uncaught error in a DOM handler.
 */
export class Emitter<E extends object> {
  private readonly sets: ListenerSets<E> = {};

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.sets[event];
    if (!set) {
      set = new Set();
      this.sets[event] = set;
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.sets[event]?.delete(listener);
  }

  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.sets[event];
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (err) {
        reportAsync(err);
      }
    }
  }

  listenerCount(event: keyof E): number {
    return this.sets[event]?.size ?? 0;
  }
}

function reportAsync(err: unknown): void {
  const g = globalThis as { reportError?: (e: unknown) => void };
  if (typeof g.reportError === 'function') g.reportError(err);
  else
    queueMicrotask(() => {
      throw err;
    });
}
