/** The compute-node side: job ccaches and job records. */
export { materialise, materialiseAnswer, type MaterialiseOptions, type MaterialiseResult } from './materialise';
export { destroy, type DestroyResult } from './destroy';
export { readRecord, recordPath, jobsDir, type JobRecord } from './record';
export { isValidJobCcache } from './ccfile';
export { parseUid, parseGid, parseJob } from './ids';
