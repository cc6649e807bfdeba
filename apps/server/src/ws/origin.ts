/**
 * Origin allow-list for upgrades (browsers always send Origin; other clients usually do not
 * and still need a token). Empty list: same origin only, compared as scheme + host + port with
 * the origin this request was made to (`ownOrigin`: the request's protocol and Host, which
 * honour X-Forwarded-Proto/-Host only when TRUST_PROXY trusts the sender); "*": any origin.
 */
export function originPolicy(allowed: string): (origin: string | undefined, ownOrigin: string) => boolean {
  const list = allowed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.includes('*')) return () => true;
  const set = new Set(list.map(canonical).filter((o): o is string => o !== undefined));
  return (origin, ownOrigin) => {
    if (origin === undefined) return true;
    const o = canonical(origin);
    if (o === undefined) return false;
    if (set.size > 0) return set.has(o);
    return o === canonical(ownOrigin);
  };
}

/** "HTTPS://Example.com:443/" → "https://example.com"; undefined when not an http(s) origin. */
function canonical(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}
