/**
 * Open sockets per user id and per client IP on this pod, so that one token or one host cannot
 * take the pod's whole MAX_CONNECTIONS. A cap of 0 means no cap. Entries exist only while a
 * key has sockets open.
 */
export class ConnectionCaps {
  private readonly byUser = new Map<string, number>();
  private readonly byIp = new Map<string, number>();

  constructor(
    private readonly perUser: number,
    private readonly perIp: number,
  ) {}

  /** Which cap a new socket of this user from this IP would pass, if any. */
  exceeded(userId: string, ip: string): 'user' | 'ip' | undefined {
    if (this.perUser > 0 && (this.byUser.get(userId) ?? 0) >= this.perUser) return 'user';
    if (this.perIp > 0 && (this.byIp.get(ip) ?? 0) >= this.perIp) return 'ip';
    return undefined;
  }

  /** Counts a socket in; false (and nothing counted) when a cap is already reached. */
  acquire(userId: string, ip: string): boolean {
    if (this.exceeded(userId, ip)) return false;
    this.byUser.set(userId, (this.byUser.get(userId) ?? 0) + 1);
    this.byIp.set(ip, (this.byIp.get(ip) ?? 0) + 1);
    return true;
  }

  release(userId: string, ip: string): void {
    decrement(this.byUser, userId);
    decrement(this.byIp, ip);
  }

  /** Open sockets of one user (for tests and metrics). */
  userCount(userId: string): number {
    return this.byUser.get(userId) ?? 0;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = map.get(key);
  if (n === undefined) return;
  if (n <= 1) map.delete(key);
  else map.set(key, n - 1);
}
