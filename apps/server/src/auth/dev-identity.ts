import { createHmac } from 'node:crypto';

/**
 * Dev-token user ids are derived by the server, never chosen by the client. A browser keeps a
 * random secret of its own (`key`, at least 128 bits) and sends it with every token request;
 * the id is an HMAC of that secret under the server's token key. The same browser gets the
 * same id on every refresh and on every pod; knowing someone's id (it is shown in presence
 * and on every message) gives nothing, because the id cannot be turned back into the secret.
 */
// The key's and the id's shapes (DEV_KEY_PATTERN, USER_ID_PATTERN) are in @chat/protocol.
export function devUserId(serverKey: string, browserKey: string): string {
  const mac = createHmac('sha256', serverKey).update('chat dev identity\0').update(browserKey).digest();
  return `u_${mac.subarray(0, 16).toString('base64url').slice(0, 22)}`;
}
