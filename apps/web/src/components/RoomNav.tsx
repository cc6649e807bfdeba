interface Props {
  rooms: readonly string[];
  active: string | undefined;
  unread: Record<string, number>;
  onSelect: (room: string) => void;
  onLeave: (room: string) => void;
}

/** The rooms this tab is in; one is on screen. */
export function RoomNav({ rooms, active, unread, onSelect, onLeave }: Props) {
  return (
    <nav className="room-nav">
      <h2 className="sidebar-title">Rooms</h2>
      <ul>
        {rooms.map((room) => {
          const count = unread[room] ?? 0;
          return (
            <li key={room} className={room === active ? 'room-item active' : 'room-item'}>
              <button
                type="button"
                className="room-button"
                aria-current={room === active ? 'page' : undefined}
                onClick={() => onSelect(room)}
              >
                <span className="room-name">#{room}</span>
                {count > 0 && (
                  <span className="badge" title={`${count} unread`}>
                    {count > 99 ? '99+' : count}
                    <span className="visually-hidden"> unread</span>
                  </span>
                )}
              </button>
              <button
                type="button"
                className="room-leave"
                title={`Leave #${room}`}
                onClick={() => onLeave(room)}
              >
                <span aria-hidden="true">×</span>
                <span className="visually-hidden">Leave #{room}</span>
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
