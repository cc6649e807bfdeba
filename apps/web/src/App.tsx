import { useEffect, useState } from 'react';
import { ChatScreen } from './components/ChatScreen';
import { NameForm } from './components/NameForm';
import { loadProfile, saveProfile, saveRooms } from './lib/storage';
import { requestToken, TokenSession } from './lib/token';

/**
 * Signed in (this tab's session), signing in again as the remembered name (a new tab), or
 * asking for a name.
 */
export function App() {
  const [session, setSession] = useState(() => TokenSession.restore());
  const [profile] = useState(loadProfile);
  const [autoError, setAutoError] = useState<string>();
  const remembered = !session && profile && autoError === undefined ? profile : undefined;

  useEffect(() => {
    if (!remembered) return;
    const abort = new AbortController();
    // The browser key (lib/token.ts) makes the server derive the remembered user id again.
    requestToken(remembered.name, { signal: abort.signal }).then(
      (token) => setSession(new TokenSession(remembered.name, token, remembered.userId)),
      (err: unknown) => {
        if (!abort.signal.aborted) setAutoError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => abort.abort();
  }, [remembered]);

  useEffect(() => {
    if (session) saveProfile({ name: session.name, userId: session.userId });
  }, [session]);

  if (session) {
    return (
      <ChatScreen
        session={session}
        onSignOut={() => {
          TokenSession.clear();
          saveProfile(undefined);
          saveRooms(session.userId, undefined);
          setSession(undefined);
          setAutoError('');
        }}
      />
    );
  }
  if (remembered) {
    return (
      <main className="signin">
        <p className="signin-card muted" role="status">
          Signing in as <strong>{remembered.name}</strong>…
        </p>
      </main>
    );
  }
  return (
    <NameForm
      initialName={profile?.name}
      initialError={autoError ? `Could not sign in as ${profile?.name}: ${autoError}` : undefined}
      onSignedIn={setSession}
    />
  );
}
