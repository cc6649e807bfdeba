export interface ClusterNode {
  id: string;
  port: number;
  role: 'primary' | 'replica';
  /** The primary's id, for a replica. */
  primaryId?: string;
  /** Slots served, for a primary. */
  slots: number[];
  failed: boolean;
}

/** `CLUSTER NODES` output as nodes: role, primary, the slots a primary serves, failure flags. */
export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      // <id> <ip:port@cport> <flags> <primary> <ping-sent> <pong-recv> <epoch> <link> <slot>...
      const [id, addr, flags, primaryId, , , , , ...ranges] = line.split(' ');
      const slots: number[] = [];
      for (const r of ranges) {
        if (r.startsWith('[')) continue; // a slot being migrated
        const [lo = 0, hi = lo] = r.split('-').map(Number);
        for (let s = lo; s <= hi; s++) slots.push(s);
      }
      const f = (flags ?? '').split(',');
      return {
        id: id ?? '',
        port: Number(addr?.split('@')[0]?.split(':')[1]),
        role: f.includes('master') ? 'primary' : 'replica',
        primaryId: primaryId === '-' ? undefined : primaryId,
        slots,
        failed: f.includes('fail') || f.includes('fail?'),
      };
    });
}
