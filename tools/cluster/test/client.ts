import { readFileSync } from 'node:fs';

export {
  type Closed,
  clientMsgId as msgId,
  closeAll,
  fetchToken as token,
  ProtocolClient as Client,
} from '@chat/testkit';

/** Whether a process exists and is not a zombie (an exited child nobody reaped yet). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
