/**
 * The kernel's word on who is at the other end of a unix socket: getsockopt(SO_PEERCRED) (Node's
 * net has no API for it). The keeper believes this, never a uid a client states.
 */
import type { Socket } from 'node:net';
import { Krb5BridgeError } from '../errors';
import { SOL_SOCKET, SO_PEERCRED, errno, libc } from '../sys/libc';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** pid/uid/gid of the process that connected `socket` (a unix stream socket). */
export function peerCred(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Krb5BridgeError('E_INTERNAL', 'no descriptor for a keeper connection');
  const buf = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const len = [12];
  if (libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] !== 12) {
    throw new Krb5BridgeError('E_AUTH', `getsockopt(SO_PEERCRED) failed with errno ${errno()}`);
  }
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}
