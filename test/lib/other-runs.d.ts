/** One line per other test run seen on this machine now (see other-runs.js). */
export function otherRuns(myRun: string): string[];
