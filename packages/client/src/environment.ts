/**
 * What the client needs from its host to react to the network and to the page: `online` /
 * `offline` events and page visibility. In a browser, `browserEnvironment()` wires them to
 * `window` and `document`; in Node there is none and the client assumes it is always online.
 * Tests pass their own.
 */
export interface EnvironmentHandlers {
  online(): void;
  offline(): void;
  /** The page became visible again (timers may have been throttled while it was hidden). */
  visible(): void;
}

export interface ClientEnvironment {
  isOnline(): boolean;
  subscribe(handlers: EnvironmentHandlers): () => void;
}

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

interface BrowserGlobals {
  window?: EventTargetLike;
  document?: EventTargetLike & { visibilityState?: string };
  navigator?: { onLine?: boolean };
}

/** Feature-detects `window`, `document` and `navigator`; undefined outside a browser. */
export function browserEnvironment(): ClientEnvironment | undefined {
  const g = globalThis as BrowserGlobals;
  const win = g.window;
  if (!win || typeof win.addEventListener !== 'function') return undefined;
  const doc = g.document;
  return {
    isOnline: () => g.navigator?.onLine !== false,
    subscribe(handlers) {
      const onOnline = () => handlers.online();
      const onOffline = () => handlers.offline();
      const onVisibility = () => {
        if (doc?.visibilityState === 'visible') handlers.visible();
      };
      win.addEventListener('online', onOnline);
      win.addEventListener('offline', onOffline);
      doc?.addEventListener('visibilitychange', onVisibility);
      return () => {
        win.removeEventListener('online', onOnline);
        win.removeEventListener('offline', onOffline);
        doc?.removeEventListener('visibilitychange', onVisibility);
      };
    },
  };
}
