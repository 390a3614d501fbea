/**
 * The libslurm binding table (helper/src/slurm/libslurm.ts) reads struct fields at fixed offsets:
 * each one is compared here with offsetof() compiled against the installed <slurm/slurm.h>
 * (libslurm-dev, scripts/deps), with the API version the offsets are for, and with the error
 * numbers the job check classifies. A Slurm upgrade that moves a field fails here, not in a store.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLURM_INVALID_JOB_ID, LAYOUT, LIBSLURM_API, SHOW_ALL, isCommunicationError } from '../../../helper/src/slurm/libslurm';

const PROGRAM = `
#include <stdio.h>
#include <stddef.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#define F(t, f) printf("%s.%s %zu\\n", #t, #f, offsetof(t, f))
int main(void) {
  F(job_info_msg_t, record_count); F(job_info_msg_t, job_array);
  printf("slurm_job_info_t.size %zu\\n", sizeof(slurm_job_info_t));
  F(slurm_job_info_t, job_id); F(slurm_job_info_t, job_state); F(slurm_job_info_t, nodes); F(slurm_job_info_t, user_id);
  F(node_info_msg_t, record_count); F(node_info_msg_t, node_array);
  printf("node_info_t.size %zu\\n", sizeof(node_info_t));
  F(node_info_t, name); F(node_info_t, node_addr); F(node_info_t, node_hostname);
  printf("api %d\\n", (int)(SLURM_VERSION_NUMBER >> 16) == 0x16 && ((SLURM_VERSION_NUMBER >> 8) & 0xff) == 5 ? 38 : -1);
  printf("SHOW_ALL %d\\nESLURM_INVALID_JOB_ID %d\\n", SHOW_ALL, ESLURM_INVALID_JOB_ID);
  printf("comm %d %d %d\\n", SLURM_COMMUNICATIONS_CONNECTION_ERROR, SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR, SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT);
  return 0;
}
`;

let facts: Record<string, number[]>;

beforeAll(() => {
  const dir = mkdtempSync('/tmp/krb5bridge-libslurm-');
  try {
    writeFileSync(join(dir, 'layout.c'), PROGRAM);
    const cc = spawnSync('gcc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cannot compile against <slurm/slurm.h> (run 'make deps': libslurm-dev): ${cc.stderr}`);
    const out = spawnSync(join(dir, 'layout'), { encoding: 'utf8' }).stdout;
    facts = Object.fromEntries(out.trim().split('\n').map((l) => { const [k, ...v] = l.split(' '); return [k!, v.map(Number)]; }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every offset and size the table reads matches slurm.h', () => {
  const want: Record<string, number> = {
    'job_info_msg_t.record_count': LAYOUT.jobMsg.record_count,
    'job_info_msg_t.job_array': LAYOUT.jobMsg.job_array,
    'slurm_job_info_t.size': LAYOUT.job.size,
    'slurm_job_info_t.job_id': LAYOUT.job.job_id,
    'slurm_job_info_t.job_state': LAYOUT.job.job_state,
    'slurm_job_info_t.nodes': LAYOUT.job.nodes,
    'slurm_job_info_t.user_id': LAYOUT.job.user_id,
    'node_info_msg_t.record_count': LAYOUT.nodeMsg.record_count,
    'node_info_msg_t.node_array': LAYOUT.nodeMsg.node_array,
    'node_info_t.size': LAYOUT.node.size,
    'node_info_t.name': LAYOUT.node.name,
    'node_info_t.node_addr': LAYOUT.node.node_addr,
    'node_info_t.node_hostname': LAYOUT.node.node_hostname,
  };
  const got = Object.fromEntries(Object.keys(want).map((k) => [k, facts[k]?.[0]]));
  expect(got).toEqual(want);
});

test('the header is the Slurm 22.05 API the offsets are for; constants agree', () => {
  expect(facts.api).toEqual([LIBSLURM_API]);
  expect(facts.SHOW_ALL).toEqual([SHOW_ALL]);
  expect(facts.ESLURM_INVALID_JOB_ID).toEqual([ESLURM_INVALID_JOB_ID]);
  for (const n of facts.comm!) expect(isCommunicationError(n)).toBe(true);
  expect(isCommunicationError(ESLURM_INVALID_JOB_ID)).toBe(false);
});
