export { mungeEncode, mungeDecode, mungeCauseOf, DEFAULT_MUNGE_SOCKET } from './munge';
export type { Decoded, EncodeOptions, MungeOptions, MungeCause } from './munge';
export { EMUNGE_CRED_REPLAYED, EMUNGE_CRED_UNAUTHORIZED, EMUNGE_CRED_EXPIRED } from './libmunge';
