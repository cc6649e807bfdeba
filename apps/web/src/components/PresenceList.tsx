import type { Member } from '@chat/protocol';

interface Props {
  room: string;
  users: readonly Member[];
  me: string;
  /** False while (re)joining: the list is the last one known. */
  live: boolean;
}

/** Who is in the room: one entry per user, however many tabs they have open. */
export function PresenceList({ room, users, me, live }: Props) {
  return (
    <aside className={live ? 'presence' : 'presence stale'}>
      <h2>
        Online <span className="muted">({users.length})</span>
      </h2>
      <ul aria-label={`Online in #${room}`}>
        {users.map((u) => (
          <li key={u.id}>
            <span className="presence-dot" aria-hidden="true" />
            {u.name}
            {u.id === me && <span className="muted"> (you)</span>}
          </li>
        ))}
      </ul>
    </aside>
  );
}
