import { MAX_NAME_CHARS } from '@chat/protocol';
import { type FormEvent, useId, useState } from 'react';
import { requestToken, TokenSession } from '../lib/token';

interface Props {
  onSignedIn: (session: TokenSession) => void;
  /** The name this browser used last (after a failed automatic sign-in or a sign-out). */
  initialName?: string | undefined;
  initialError?: string | undefined;
}

/** Pick a display name; the server signs a development token for it. */
export function NameForm({ onSignedIn, initialName, initialError }: Props) {
  const id = useId();
  const [name, setName] = useState(initialName ?? '');
  const [error, setError] = useState(initialError);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed) {
      setError('Enter a display name.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const token = await requestToken(trimmed);
      onSignedIn(new TokenSession(trimmed, token));
    } catch (err) {
      setError(`Could not sign in: ${err instanceof Error ? err.message : String(err)}`);
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form className="signin-card" onSubmit={submit} noValidate>
        <h1>Chat</h1>
        <p className="muted">A real-time chat running on Kubernetes. Pick a name to join.</p>
        <label htmlFor={id}>Display name</label>
        <input
          id={id}
          name="name"
          autoComplete="nickname"
          maxLength={MAX_NAME_CHARS}
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          // biome-ignore lint/a11y/noAutofocus: the name field is the only thing on this screen
          autoFocus
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Entering…' : 'Enter chat'}
        </button>
        {error && (
          <p id={`${id}-error`} className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
