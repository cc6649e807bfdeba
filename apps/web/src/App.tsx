import { useState } from 'react';
import { ChatScreen } from './components/ChatScreen';
import { NameForm } from './components/NameForm';
import { TokenSession } from './lib/token';

export function App() {
  const [session, setSession] = useState(() => TokenSession.restore());
  if (!session) return <NameForm onSignedIn={setSession} />;
  return (
    <ChatScreen
      session={session}
      onSignOut={() => {
        TokenSession.clear();
        setSession(undefined);
      }}
    />
  );
}
