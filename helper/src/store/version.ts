/** The version the store reports to `ping`. Keep equal to VERSION in main.ts (main.ts cannot be imported: it runs the CLI). */
export const STORE_VERSION = '0.1.0';
