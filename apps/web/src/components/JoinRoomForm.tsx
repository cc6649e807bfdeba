import { type FormEvent, useId, useState } from 'react';
import { normalizeRoom, roomError } from '../lib/rooms';

interface Props {
  onJoin: (room: string) => Promise<void>;
}

/** Join (or switch to) a room by name. */
export function JoinRoomForm({ onJoin }: Props) {
  const id = useId();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const room = normalizeRoom(value);
    const invalid = roomError(room);
    if (invalid) {
      setError(invalid);
      return;
    }
    setError(undefined);
    setValue('');
    try {
      await onJoin(room);
    } catch (err) {
      setError(`Cannot join #${room}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  return (
    <form className="join-room" onSubmit={submit} noValidate>
      <label htmlFor={id}>Room</label>
      <div className="inline-field">
        <input
          id={id}
          name="room"
          placeholder="room name"
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
        />
        <button type="submit">Join room</button>
      </div>
      {error && (
        <p id={`${id}-error`} className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
