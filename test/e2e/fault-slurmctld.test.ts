/**
 * Issue 8, slurmctld stopped at step launch: the job's Prolog (run by slurmd as root just before the
 * batch step starts) stops slurmctld, so the store cannot check that the job runs on this node.
 * The job is told why it has no ticket yet, with its own ccache path in KRB5CCNAME (never the
 * submit host's); once slurmctld is back the keeper fills that ccache.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { krb5bridgeLines, parseWait, waitScript } from './jobreport';

const cluster = clusterForFile({ prolog: true });
let c: Cluster;
let u: User;
const tag = `${process.pid}.${Date.now()}`;

beforeAll(() => {
  c = cluster.get();
  u = c.adduser('kbfctld');
  c.kinit(u.name);
});

test('slurmctld stopped as the batch step starts: the job is told why, and its ccache is filled once slurmctld is back', async () => {
  // One-shot: the Prolog removes itself, then stops slurmctld (TERM: it saves its state and exits).
  c.prolog(`rm -f "$0"\nkill -TERM "$(cat "$TC_DIR/pid/slurmctld.pid")"`);
  const out = join(u.home, `fctld.${tag}.out`);
  const err = join(u.home, `fctld.${tag}.err`);
  const sub = c.as(u.name, ['sbatch', '--parsable', '-o', out, '-e', err, '--wrap', waitScript(150)]);
  expect(sub.code).toBe(0);
  const job = sub.stdout.trim();
  let back = 0;
  try {
    await waitFor(() => existsSync(err) && krb5bridgeLines(readFileSync(err, 'utf8')).length > 0, 60_000, 'the job to start');
    expect(c.status().slurmctld).toBeUndefined();
    // Down a little longer than the keeper's first retry.
    await new Promise((r) => setTimeout(r, 8_000));
  } finally {
    c.start('slurmctld');
    back = Date.now();
  }
  const cc = /^CC=(\S+)/m.exec(readFileSync(out, 'utf8'))?.[1] ?? '';
  expect(cc).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${u.uid}_${job}_[A-Za-z0-9]{6}$`));
  expect(krb5bridgeLines(readFileSync(err, 'utf8'))).toEqual([
    expect.stringMatching(
      new RegExp(
        `^krb5bridge: no Kerberos ticket for this job yet \\(E_SLURMCTLD_UNREACHABLE: store ${c.store.replace(/\./g, '\\.')}: slurm_load_job\\(${job}\\): (?:no answer from slurmctld within 2\\.5 s|Unable to contact slurm controller \\(connect failure\\))\\); it is written to ${cc.slice(5)} \\(KRB5CCNAME\\) as soon as it can be had$`,
      ),
    ),
  ]);
  await c.waitJob(job, 180_000);
  const report = parseWait(readFileSync(out, 'utf8'));
  expect(report).toEqual(expect.objectContaining({ valid: true, ccache: cc }));
  const wait = (report?.at ?? NaN) - back;
  console.log(`slurmctld down at step launch: the job's ccache was filled ${(wait / 1000).toFixed(1)} s after slurmctld was back`);
  expect(wait).toBeLessThanOrEqual(30_000); // the keeper backs off to 15 s at most while the store cannot decide
  const keeperLog = readFileSync(join(c.dir, 'log', 'keeper.log'), 'utf8');
  expect(keeperLog).toContain(`job ${job} uid ${u.uid} principal ${u.name}@${c.realm}: wrote ${cc.slice(5)} (pending since the job started) from the store`);
}, 240_000);
