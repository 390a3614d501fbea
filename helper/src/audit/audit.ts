/**
 * The audit log: one JSON line per push, fetch, refresh, remove, rotation and refusal, saying
 * when, who (uid, principal), from where (host), for which job, what happened and the error
 * code. Never a ticket, a key or a credential: the event type has no field that could carry one.
 * The file is opened O_APPEND (each line one write(2), so concurrent writers never interleave and
 * nothing is overwritten), 0600, and must be a regular file owned by root.
 */
import * as fs from 'node:fs';
import { openTrusted } from '../util/trustedpath';

export interface AuditEvent {
  op: string;
  result: 'ok' | 'refused' | 'error';
  /** E_... for refusals and errors. */
  code?: string | undefined;
  uid?: number | undefined;
  principal?: string | undefined;
  host?: string | undefined;
  job?: string | undefined;
  /** The uid acted on, when not the caller's. */
  target_uid?: number | undefined;
  mech?: string | undefined;
  /** push: stored or kept; rotate: the new key id. */
  action?: string | undefined;
  /** Which policy rule decided a refusal (file:line). */
  rule?: string | undefined;
}

export interface Audit {
  record(e: AuditEvent): void;
  close(): void;
}

/** Audit off (no --audit-log): nothing is written. */
export const noAudit: Audit = { record: () => undefined, close: () => undefined };

/** The JSON line for an event: fixed field order, undefined fields left out, bounded strings. */
export function auditLine(e: AuditEvent, now: Date = new Date()): string {
  const cut = (s: string | undefined): string | undefined => (s === undefined ? undefined : s.slice(0, 256));
  return (
    JSON.stringify({
      time: now.toISOString(),
      op: cut(e.op),
      result: e.result,
      code: e.code,
      uid: e.uid,
      principal: cut(e.principal),
      host: cut(e.host),
      job: cut(e.job),
      target_uid: e.target_uid,
      mech: e.mech,
      action: cut(e.action),
      rule: cut(e.rule),
    }) + '\n'
  );
}

/** Open (create 0600) the audit file for appending, through the one trusted-path check (root's, 0600, one link, no symlink). */
export function openAuditLog(path: string, onError: (line: string) => void): Audit {
  const { fd } = openTrusted(path, { what: 'audit log', type: 'file', open: 'append', forbid: 0o077, modeRemedy: 'chmod 0600 it' });
  let failed = false;
  return {
    record(e) {
      try {
        fs.writeSync(fd, auditLine(e));
        failed = false;
      } catch (err) {
        // A full disk must not stop the store; say so once per failure streak.
        if (!failed) onError(`cannot write the audit log ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        failed = true;
      }
    },
    close() {
      fs.closeSync(fd);
    },
  };
}
