/**
 * Credentials stay valid for the whole life of a job (issue 3), on a real cluster whose realm
 * issues 1-minute tickets renewable for 10 minutes: the store renews, the node keeper refreshes
 * job ccaches in place, sweeps what ended jobs left, survives being killed, and the plugin falls
 * back to the helper while it is down. The long waits run side by side: one ~3.5-minute file.
 */
import { chmodSync, chownSync, existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, TESTCLUSTER, User, clusterForFile, waitFor } from '../lib/cluster';
import { REPORT_SCRIPT, parseReport } from './jobreport';

const LIFETIME = 60;
const cluster = clusterForFile({ ticketLifetime: '1m', renewLifetime: '10m' });
let c: Cluster;
let hold: User; // a held job, and the user of the fallback srun
let run: User; // two long jobs
let end: User; // a ticket whose renew-until passes mid-job
const tag = `${process.pid}.${Date.now()}`;
const t0 = Date.now();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (name: string): string => readFileSync(join(c.dir, 'log', name), 'utf8');
const tc = (...args: string[]): void => {
  const r = c.root([TESTCLUSTER, ...args, '--dir', c.dir]);
  if (r.code !== 0) throw new Error(`testcluster ${args.join(' ')}: ${r.stderr}`);
};

/** Submit a job (as `u`) that prints one sample line every 20 s for `seconds`. */
function sampler(u: User, seconds: number, name: string): { job: string; out: string } {
  const out = join(u.home, `renewal.${tag}.${name}.out`);
  const script =
    `end=$(($(date +%s) + ${seconds})); while [ $(date +%s) -lt $end ]; do ` +
    `echo "S $(date +%s) $KRB5CCNAME $(klist -s && echo valid || echo invalid) $(kvno -q host/localhost >/dev/null 2>&1 && echo kvno-ok || echo kvno-failed)"; ` +
    'sleep 20; done; echo DONE';
  // --oversubscribe: the node has only `nproc` CPUs and these jobs mostly sleep.
  const r = c.as(u.name, ['sbatch', '--parsable', '--oversubscribe', '-o', out, '--wrap', script]);
  if (r.code !== 0) throw new Error(`sbatch failed: ${r.stderr}`);
  return { job: r.stdout.trim().split(';')[0]!, out };
}

interface Sample {
  at: number;
  ccache: string;
  valid: boolean;
  kvno: boolean;
}
const samples = (out: string): Sample[] =>
  [...readFileSync(out, 'utf8').matchAll(/^S (\d+) (\S+) (valid|invalid) (kvno-ok|kvno-failed)$/gm)].map((m) => ({
    at: Number(m[1]),
    ccache: m[2]!,
    valid: m[3] === 'valid',
    kvno: m[4] === 'kvno-ok',
  }));

/** krbtgt TGS requests of principal NAME in the KDC log: renewals (kvno asks for host/, not krbtgt/). */
const kdcRenewals = (name: string): number =>
  log('kdc.log').split('\n').filter((l) => l.includes('TGS_REQ') && l.includes('ISSUE:') && l.includes(`, ${name}@${c.realm} for krbtgt/`)).length;
const storeRenewals = (u: User): number => log('store.log').split('\n').filter((l) => l.includes(`op=renew uid=${u.uid} `) && l.includes('result=ok endtime=')).length;

beforeAll(() => {
  c = cluster.get();
  hold = c.adduser('kbrnhold');
  run = c.adduser('kbrnrun');
  end = c.adduser('kbrnend');
  c.kinit(hold.name);
  c.kinit(run.name);
});

describe('the sweep', () => {
  test('removes what a job that vanished left (its epilog never ran), never a running job\'s ccache or a foreign file', async () => {
    const other = c.as(hold.name, ['sbatch', '--parsable', '-o', '/dev/null', '--wrap', 'echo "$KRB5CCNAME" > $HOME/sweep.' + tag + '; sleep 300']);
    const lost = c.as(run.name, ['sbatch', '--parsable', '-o', '/dev/null', '--wrap', 'sleep 300']);
    expect(other.code).toBe(0);
    expect(lost.code).toBe(0);
    const otherJob = other.stdout.trim();
    const lostJob = lost.stdout.trim();
    const rec = (job: string): string => join(c.nodeState, 'jobs', job);
    await waitFor(() => existsSync(rec(otherJob)) && existsSync(rec(lostJob)), 20_000, 'both jobs to have ccaches');
    const lostCc = readFileSync(rec(lostJob), 'utf8').trim().split(' ')[1]!;
    const otherCc = readFileSync(rec(otherJob), 'utf8').trim().split(' ')[1]!;

    // Files the sweep did not create: a look-alike ccache of a job that does not run (no record),
    // and a record of a job that does not run naming another user's file.
    const lookAlike = `/tmp/krb5cc_${run.uid}_999998_LkAlk1`;
    writeFileSync(lookAlike, 'not a ccache', { mode: 0o600 });
    chownSync(lookAlike, run.uid, run.gid);
    const foreign = `/tmp/krb5cc_${run.uid}_999997_FoReiG`;
    writeFileSync(foreign, 'someone else', { mode: 0o600 });
    chownSync(foreign, hold.uid, hold.gid);
    writeFileSync(rec('999997'), `${run.uid} ${foreign}\n`, { mode: 0o600 });
    try {
      // The epilog of the lost job runs without the plugin: its ccache and record stay behind.
      c.plugstack({ off: true });
      expect(c.as(run.name, ['scancel', lostJob]).code).toBe(0);
      await c.waitJob(lostJob);
      c.plugstack();
      expect(existsSync(lostCc)).toBe(true);

      await waitFor(() => !existsSync(lostCc) && !existsSync(rec(lostJob)), 20_000, 'the sweep to remove the lost job\'s ccache');
      expect(log('keeper.log')).toContain(`sweep: job ${lostJob} (uid ${run.uid}) no longer runs on this node: destroyed ${lostCc}`);
      await waitFor(() => !existsSync(rec('999997')), 20_000, 'the sweep to drop the record naming a foreign file');
      expect(log('keeper.log')).toContain(`sweep: job 999997: refusing an unsafe path: ${foreign} is a file of uid ${hold.uid}, not the job's ccache: left in place`);
      // Left alone: the foreign file, the look-alike, and the running job's ccache.
      expect(lstatSync(foreign).uid).toBe(hold.uid);
      expect(readFileSync(foreign, 'utf8')).toBe('someone else');
      expect(readFileSync(lookAlike, 'utf8')).toBe('not a ccache');
      expect(existsSync(otherCc)).toBe(true);
      expect(existsSync(rec(otherJob))).toBe(true);
      expect(c.as(hold.name, ['klist', '-s', '-c', otherCc]).code).toBe(0);
    } finally {
      c.plugstack();
      rmSync(lookAlike, { force: true });
      rmSync(foreign, { force: true });
      c.as(hold.name, ['scancel', otherJob]);
      await c.waitJob(otherJob);
    }
  }, 60_000);
});

describe('a job outliving its tickets (1-minute tickets)', () => {
  let held: { job: string; out: string };
  let long1: { job: string; out: string };
  let long2: { job: string; out: string };
  let ending: { job: string; out: string };
  let fallback: ReturnType<typeof parseReport>;
  let refreshLog: string;

  // Everything waits side by side; the tests below only look at what happened.
  beforeAll(async () => {
    const started = Date.now();
    c.kinit(hold.name);
    c.kinit(run.name);
    c.kinit(end.name, ['-r', '100s']); // renew-until passes while the job runs
    const heldOut = join(hold.home, `renewal.${tag}.held.out`);
    const h = c.as(hold.name, ['sbatch', '--parsable', '--oversubscribe', '-H', '-o', heldOut, '--wrap', REPORT_SCRIPT]);
    if (h.code !== 0) throw new Error(h.stderr);
    held = { job: h.stdout.trim(), out: heldOut };
    long1 = sampler(run, 150, 'long1');
    long2 = sampler(run, 150, 'long2');
    ending = sampler(end, 170, 'ending');
    await waitFor(() => [long1, long2, ending].every((j) => existsSync(j.out) && samples(j.out).length > 0), 30_000, 'the long jobs to start');

    // Kill the keeper mid-job; while it is down a new job still gets its credential (the helper).
    await sleep(20_000);
    tc('keeper-stop', '--signal', 'KILL');
    refreshLog = join(c.dir, `refresh.${tag}.log`);
    const cmd = join(c.dir, 'refresh-command');
    writeFileSync(cmd, `#!/bin/sh\necho "$1 $(id -u) $SLURM_JOB_ID $KRB5CCNAME $(klist -s && echo valid || echo invalid)" >> ${refreshLog}\n`);
    chmodSync(cmd, 0o755);
    writeFileSync(refreshLog, '');
    chmodSync(refreshLog, 0o666);
    const conf = readFileSync(c.bridgeConfig, 'utf8');
    writeFileSync(c.bridgeConfig, `${conf}refresh_command = ${cmd}\n`);
    const fb = c.as(hold.name, ['srun', '-N1', '--oversubscribe', 'sh', '-c', REPORT_SCRIPT]);
    if (fb.code !== 0) throw new Error(fb.stderr);
    fallback = parseReport(fb.stdout);
    await sleep(5_000);
    tc('keeper-start');

    // Release the held job once it has waited longer than a ticket lives.
    await sleep(Math.max(0, (LIFETIME + 15) * 1000 - (Date.now() - started)));
    expect(c.as(hold.name, ['scontrol', 'release', held.job]).code).toBe(0);
    for (const j of [held, long1, long2, ending]) await c.waitJob(j.job, 240_000);
  }, 300_000);

  test('a job held longer than the ticket lifetime starts with a valid ticket; kvno works', () => {
    const rep = parseReport(readFileSync(held.out, 'utf8'));
    expect(rep.job).toBe(held.job);
    expect(rep.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${hold.uid}_${held.job}_[A-Za-z0-9]{6}$`));
    expect(rep.principal).toBe(`${hold.name}@${c.realm}`);
    expect(rep.kvno).toBe('ok');
    // The store renewed it while it waited.
    expect(storeRenewals(hold)).toBeGreaterThanOrEqual(1);
  });

  test('jobs running more than twice the ticket lifetime: klist -s and kvno work every 20 s, KRB5CCNAME unchanged', () => {
    for (const j of [long1, long2]) {
      const s = samples(j.out);
      expect(s.length).toBeGreaterThanOrEqual(7);
      expect(s[s.length - 1]!.at - s[0]!.at).toBeGreaterThan(2 * LIFETIME);
      expect(s.filter((x) => !x.valid || !x.kvno)).toEqual([]);
      expect(new Set(s.map((x) => x.ccache)).size).toBe(1);
      expect(s[0]!.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${run.uid}_${j.job}_[A-Za-z0-9]{6}$`));
      expect(readFileSync(j.out, 'utf8')).toMatch(/^DONE$/m);
    }
  });

  test('the keeper, killed mid-job and started again, goes on refreshing the same ccaches', () => {
    const k = log('keeper.log');
    const restart = k.lastIndexOf('keeper listening on');
    expect(restart).toBeGreaterThan(k.indexOf('keeper listening on'));
    for (const j of [long1, long2]) {
      const cc = samples(j.out)[0]!.ccache.replace(/^FILE:/, '');
      expect(k.slice(restart)).toMatch(new RegExp(`job ${j.job} uid ${run.uid} principal ${run.name}@${c.realm}: refreshed ${cc} from the store; ticket valid until`));
    }
  });

  test('while the keeper is down the plugin falls back to the helper and the job gets its credential', () => {
    expect(fallback.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${hold.uid}_${fallback.job}_[A-Za-z0-9]{6}$`));
    expect(fallback.principal).toBe(`${hold.name}@${c.realm}`);
    expect(fallback.kvno).toBe('ok');
    expect(log('keeper.log')).not.toContain(`materialise ${hold.uid} ${hold.gid} ${fallback.job} `);
  });

  test('the site refresh_command runs as the job\'s user with the job\'s ccache after each refresh', () => {
    const lines = readFileSync(refreshLog, 'utf8').trim().split('\n').filter(Boolean);
    const mine = lines.filter((l) => l.startsWith(`refresh ${run.uid} ${long1.job} `));
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const l of mine) expect(l).toBe(`refresh ${run.uid} ${long1.job} ${samples(long1.out)[0]!.ccache} valid`);
  });

  test('when renew-until passes the job keeps running, the keeper says so in one line, nothing crashes', () => {
    const s = samples(ending.out);
    expect(readFileSync(ending.out, 'utf8')).toMatch(/^DONE$/m);
    expect(s.length).toBeGreaterThanOrEqual(8);
    expect(s[0]!.valid).toBe(true);
    expect(s[s.length - 1]!.valid).toBe(false); // the ticket ran out; the job did not
    expect(new Set(s.map((x) => x.ccache)).size).toBe(1);
    const lines = log('keeper.log').split('\n').filter((l) => l.includes(`job ${ending.job} `) && l.includes('can no longer be renewed'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`job ${ending.job} uid ${end.uid} principal ${end.name}@${c.realm}: the ticket can no longer be renewed \\(renew-until \\S+ reached\\); the job keeps it until it expires at \\S+; the user must kinit and push again for a new one$`),
    );
    // The store kept it while valid, then dropped it, each said once.
    const store = log('store.log').split('\n');
    expect(store.filter((l) => l.includes(`op=renew uid=${end.uid} `) && l.includes('result=E_NOT_RENEWABLE'))).toHaveLength(1);
    expect(store.filter((l) => l.includes(`op=drop uid=${end.uid} `))).toHaveLength(1);
    const st = c.status();
    expect(st.keeper).toBeDefined();
    expect(st.store).toBeDefined();
  });

  test('KDC renewals: one per user per cycle, whatever the number of jobs (counted in the KDC log)', () => {
    for (const u of [hold, run, end]) expect(kdcRenewals(u.name)).toBe(storeRenewals(u));
    // kbrnrun had two jobs the whole time and kbrnhold at most one: the same number of renewals.
    expect(Math.abs(kdcRenewals(run.name) - kdcRenewals(hold.name))).toBeLessThanOrEqual(1);
    expect(kdcRenewals(run.name)).toBeGreaterThanOrEqual(Math.floor((Date.now() - t0) / 1000 / LIFETIME) - 1);
    expect(log('keeper.log')).not.toContain('from the KDC');
  });
});
