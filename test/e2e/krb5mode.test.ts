/**
 * Kerberos mode end to end on a real cluster: the plugin runs with a config that says
 * auth = krb5, so srun pushes with the user's own TGT and slurmstepd fetches with the node's host
 * keytab (materialise or the node keeper), each authenticated to the store's service key (krb5bridge/localhost) with mutual
 * authentication. The store (one process) still serves munge clients.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, TESTCLUSTER, User, clusterForFile, waitFor } from '../lib/cluster';
import { REPORT_SCRIPT, parseReport } from './jobreport';

let c: Cluster;
let alice: User;
let krb5Conf: string;

const cluster = clusterForFile();
const storeLog = (): string => readFileSync(join(c.dir, 'log/store.log'), 'utf8');

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('kbkrb5');
  c.kinit(alice.name);
  // The plugstack's config= file: clients (push, materialise, the node keeper) now use Kerberos.
  // The store is unchanged: it accepts both. The keeper reads its config at start: restart it.
  krb5Conf = join(c.dir, 'krb5bridge.conf');
  const base = readFileSync(krb5Conf, 'utf8');
  expect(base).toMatch(/^auth = munge$/m);
  writeFileSync(krb5Conf, base.replace(/^auth = munge$/m, 'auth = krb5'), { mode: 0o644 });
  expect(readFileSync(join(c.dir, 'plugstack.conf'), 'utf8')).toContain(`config=${krb5Conf}`);
  for (const verb of ['keeper-stop', 'keeper-start']) execFileSync(TESTCLUSTER, [verb, '--dir', c.dir], { stdio: 'ignore' });
});

test('srun in krb5 mode: push with the user TGT, fetch with the host keytab, the job has its credential', async () => {
  const r = c.as(alice.name, ['srun', '-N1', 'sh', '-c', REPORT_SCRIPT]);
  expect(r.code).toBe(0);
  const rep = parseReport(r.stdout);
  expect(rep.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${alice.uid}_${rep.job}_[A-Za-z0-9]{6}$`));
  expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
  expect(rep.kvno).toBe('ok');
  expect(r.stderr.split('\n').filter((l) => l.includes('krb5bridge'))).toEqual([expect.stringMatching(new RegExp(`^krb5bridge: this job uses the Kerberos ticket of ${alice.name}@${c.realm} held by the credential store `))]);
  const log = storeLog();
  // The push authenticated as the user's principal, the fetch as the node's host principal.
  expect(log).toMatch(new RegExp(`mech=krb5 principal=${alice.name}@${c.realm} uid=${alice.uid} .*authenticated`));
  expect(log).toMatch(new RegExp(`mech=krb5 principal=host/localhost@${c.realm} uid=0 .*authenticated`));
  expect(log).toMatch(new RegExp(`op=fetch .*target=${alice.uid} .*job=${rep.job} .*result=ok`));
  // The user's ccache holds the store's service ticket: krb5 push used it, not munge.
  const klist = c.as(alice.name, ['klist']);
  expect(klist.stdout).toContain(`krb5bridge/localhost@${c.realm}`);
  await waitFor(() => c.squeueEmpty(), 20_000, 'the job to leave the queue');
});

test('ping in krb5 mode: the store maps the user principal to the local uid', () => {
  const r = c.as(alice.name, [...c.helper, 'ping', '--config', krb5Conf]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`it authenticated you as uid ${alice.uid}`);
});
