/**
 * Origin allow-list for upgrades (browsers always send Origin; other clients usually do not
 * and still need a token). Empty list: same origin only; "*": any origin.
 */
export function originPolicy(
  allowed: string,
): (origin: string | undefined, host: string | undefined) => boolean {
  const list = allowed
    .split(',')
    .map((s) => s.trim().replace(/\/$/, ''))
    .filter(Boolean);
  if (list.includes('*')) return () => true;
  const set = new Set(list);
  return (origin, host) => {
    if (origin === undefined) return true;
    if (set.has(origin)) return true;
    if (set.size > 0 || !host) return false;
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  };
}
