/**
 * Issue 8, the store's state directory full (ENOSPC): its own small tmpfs, filled to the last page
 * while a job runs on a 1-minute ticket. The renewed ticket is kept in memory and served (the
 * job's ccache outlives the old ticket), the problem is logged once and shown by `ping`, a push is
 * refused with E_STORAGE without touching what is stored, and once space is freed everything kept
 * in memory is written (a restarted store has it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';

const cluster = clusterForFile({ ticketLifetime: '1m', renewLifetime: '10m' });
let c: Cluster;
let runner: User; // a running job whose ticket is renewed while the disk is full
let pusher: User; // pushes while the disk is full
const tag = `${process.pid}.${Date.now()}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowS = (): number => Math.floor(Date.now() / 1000);
const storeLog = (): string => readFileSync(join(c.dir, 'log', 'store.log'), 'utf8');
const filler = (): string => join(c.storeState, 'filler');

function storedEnd(u: User): number | undefined {
  const r = c.root([...c.helper, 'show', '--uid', String(u.uid), '--json', '--config', c.bridgeConfig]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { endtime: number }).endtime : undefined;
}

/** The end of the TGT in a ccache file (klist as root), Unix seconds. */
function ccacheEnd(path: string): number {
  const out = c.root(['klist', '-c', path]).stdout;
  const m = /^(\S+ \S+)\s+(\S+ \S+)\s+krbtgt\//m.exec(out);
  return m ? Math.floor(Date.parse(m[2]!.replace(/^(\d\d)\/(\d\d)\/(\d\d) /, '20$3-$1-$2T')) / 1000) : 0;
}

beforeAll(() => {
  c = cluster.get();
  runner = c.adduser('kbfdrun');
  pusher = c.adduser('kbfdpush');
  c.kinit(runner.name);
  c.kinit(pusher.name);
  // The store's state directory on its own 1 MiB tmpfs, with what it held (testcluster down unmounts it).
  c.stop('store');
  const saved = `${c.storeState}.saved`;
  execFileSync('mv', [c.storeState, saved]);
  execFileSync('mkdir', ['-m', '0700', c.storeState]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', c.storeState]);
  execFileSync('cp', ['-a', `${saved}/.`, c.storeState]);
  rmSync(saved, { recursive: true });
  c.start('store');
});

test('ENOSPC: no ticket lost, fetches served from memory, the alarm said once and in ping, a push refused cleanly, all saved once space is back', async () => {
  const out = join(runner.home, `fdf.${tag}.out`);
  const script = 'while :; do echo "S $(date +%s) $(klist -s && echo valid || echo invalid)"; sleep 1; done';
  const sub = c.as(runner.name, ['sbatch', '--parsable', '--oversubscribe', '-o', out, '--wrap', script]);
  expect(sub.code).toBe(0);
  const job = sub.stdout.trim();
  expect(c.as(pusher.name, [...c.helper, 'push', '--force', '--no-marker']).code).toBe(0);
  await waitFor(() => existsSync(out) && / valid$/m.test(readFileSync(out, 'utf8')), 60_000, 'the job to have its ticket');
  const ccache = readFileSync(join(c.nodeState, 'jobs', job), 'utf8').trim().split(' ')[1] ?? '';
  const endBefore = storedEnd(runner) ?? 0;
  const pushedEnd = storedEnd(pusher);

  // Fill the tmpfs to the last page.
  for (const bs of ['64k', '4k', '512']) {
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler()}`, 'oflag=append', 'conv=notrunc', `bs=${bs}`], { stdio: 'ignore' });
    } catch {
      // "No space left on device": full at this block size
    }
  }
  const full = Date.now();
  try {
    // A push now: refused with E_STORAGE, and what was stored for that user is untouched.
    c.kinit(pusher.name);
    const p = c.as(pusher.name, [...c.helper, 'push', '--force', '--no-marker']);
    expect(p.code).toBe(43);
    expect(p.stderr.trim()).toBe(
      `krb5bridge: E_STORAGE: the credential store cannot write to its storage (disk full, read-only, I/O error); nothing it held was changed: try again later, and tell the administrators if it lasts: store ${c.store}: cannot save the record of uid ${pusher.uid} in ${c.storeState}/creds: ENOSPC (no space left on the device)`,
    );
    expect(storedEnd(pusher)).toBe(pushedEnd);

    // The store renews the runner's ticket (about 30 s before its end): kept in memory, said once.
    await waitFor(() => (storedEnd(runner) ?? 0) > endBefore, 60_000, 'the store to renew the ticket', 500);
    const log = storeLog();
    expect(log).toMatch(new RegExp(`op=renew uid=${runner.uid} principal=${runner.name}@${c.realm} result=ok endtime=\\S+ renew_till=\\S+ \\(kept in memory: the storage refuses writes\\)`));
    const alarm = /result=E_STORAGE .*ENOSPC \(no space left on the device\); credentials are kept in memory and served from there, and written again every 5 s$/m;
    expect(log).toMatch(alarm);
    const ping = c.root([...c.helper, 'ping', '--config', c.bridgeConfig]);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toMatch(/^warning: the store cannot save to its storage: E_STORAGE: .*ENOSPC \(no space left on the device\)/m);

    // The job keeps a valid ticket past the old one's end: the keeper got the renewed one from memory.
    await waitFor(() => nowS() > endBefore + 3, 90_000, 'the old ticket\'s end');
    expect(ccacheEnd(ccache)).toBeGreaterThan(endBefore);
    const samples = [...readFileSync(out, 'utf8').matchAll(/^S (\d+) (valid|invalid)$/gm)];
    expect(samples.filter((m) => m[2] === 'invalid').map((m) => m[1])).toEqual([]);
    expect(samples.some((m) => Number(m[1]) > endBefore)).toBe(true);
    // Several write-again rounds later, the alarm is still said once.
    await sleep(12_000);
    expect(storeLog().split('\n').filter((l) => alarm.test(l))).toHaveLength(1);
    // No temporary left behind by the refused writes.
    expect(readdirSync(join(c.storeState, 'creds')).filter((n) => !/^\d+\.json$/.test(n))).toEqual([]);
  } finally {
    rmSync(filler(), { force: true });
  }
  const freed = Date.now();

  // Written within a retry round, said once; ping is clean; a restarted store has the renewed ticket.
  await waitFor(() => /the state directory \S+ takes writes again: every credential kept in memory is saved/.test(storeLog()), 20_000, 'the store to save what it kept in memory', 200);
  console.log(`disk full ${((freed - full) / 1000).toFixed(0)} s: no ticket lost; saved ${((Date.now() - freed) / 1000).toFixed(1)} s after space was freed`);
  expect(c.root([...c.helper, 'ping', '--config', c.bridgeConfig]).stdout).not.toMatch(/warning/);
  const renewedEnd = storedEnd(runner) ?? 0;
  c.stop('store');
  c.start('store');
  expect(storedEnd(runner)).toBeGreaterThanOrEqual(renewedEnd);
  c.kinit(pusher.name);
  expect(c.as(pusher.name, [...c.helper, 'push', '--force', '--no-marker']).code).toBe(0);
  c.root(['scancel', job]);
}, 240_000);
