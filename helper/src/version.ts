/** The one version of krb5bridge: `--version`, and what the store reports to `ping`. */
export const VERSION = '0.1.0';
