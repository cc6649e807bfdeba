import { ChatClient } from '@chat/client';
import { useEffect, useState } from 'react';
import type { TokenSession } from '../lib/token';
import { webSocketUrl } from '../lib/url';

/** One chat client per signed-in session, connected while the component is mounted. */
export function useChatClient(session: TokenSession): ChatClient {
  const [client] = useState(() => new ChatClient({ url: webSocketUrl(), getToken: session.getToken }));
  useEffect(() => {
    client.connect();
    return () => client.close('left the chat');
  }, [client]);
  return client;
}
