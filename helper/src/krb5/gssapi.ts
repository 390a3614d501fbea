/**
 * The one binding table of the system libgssapi_krb5 (MIT, LP64): the functions the gateway's
 * SPNEGO login calls (spnego.ts has the logic). Bound on first use, so verbs that never accept
 * SPNEGO load nothing of it.
 */
import koffi from 'koffi';
import type { Ptr } from './lib';

/** gss_buffer_desc: {size_t length; void *value}. */
export const GssBuffer = koffi.struct({ length: 'size_t', value: 'void *' });
/** gss_key_value_element_desc and gss_key_value_set_desc (cred stores). */
export const GssKeyValue = koffi.struct({ key: 'void *', value: 'void *' });
export const GssKeyValueSet = koffi.struct({ count: 'uint32', elements: 'void *' });

/** gss_OID_desc: {OM_uint32 length; void *elements}. */
export const GssOid = koffi.struct({ length: 'uint32', elements: 'void *' });

export const GSS = {
  C_ACCEPT: 2,
  C_DELEG_FLAG: 1,
  C_MUTUAL_FLAG: 2,
  /** DER contents of GSS_C_NT_HOSTBASED_SERVICE (1.2.840.113554.1.2.1.4) and SPNEGO (1.3.6.1.5.5.2). */
  OID_HOSTBASED_SERVICE: Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04]),
  OID_SPNEGO: Buffer.from([0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]),
  C_GSS_CODE: 1,
  C_MECH_CODE: 2,
  S_CONTINUE_NEEDED: 1,
  /** The calling and routine error bits of a major status (the low 16 are supplementary). */
  ERROR_MASK: 0xffff0000,
} as const;

function bind() {
  const lib = koffi.load('libgssapi_krb5.so.2');
  return {
    acquire_cred_from: lib.func(
      'uint32 gss_acquire_cred_from(_Out_ uint32 *minor, void *name, uint32 time_req, void *mechs, int usage, void *cred_store, _Out_ void **cred, void *actual_mechs, void *time_rec)',
    ),
    accept_sec_context: lib.func(
      'uint32 gss_accept_sec_context(_Out_ uint32 *minor, _Inout_ void **ctx, void *acceptor_cred, void *input_token, void *chan, _Out_ void **src_name, void *mech_type, void *output_token, _Out_ uint32 *ret_flags, void *time_rec, _Out_ void **delegated)',
    ),
    display_name: lib.func('uint32 gss_display_name(_Out_ uint32 *minor, void *name, void *buffer, void *name_type)'),
    display_status: lib.func('uint32 gss_display_status(_Out_ uint32 *minor, uint32 status, int type, void *mech, _Inout_ uint32 *msg_ctx, void *string)'),
    release_name: lib.func('uint32 gss_release_name(_Out_ uint32 *minor, _Inout_ void **name)'),
    release_buffer: lib.func('uint32 gss_release_buffer(_Out_ uint32 *minor, void *buffer)'),
    release_cred: lib.func('uint32 gss_release_cred(_Out_ uint32 *minor, _Inout_ void **cred)'),
    delete_sec_context: lib.func('uint32 gss_delete_sec_context(_Out_ uint32 *minor, _Inout_ void **ctx, void *output_token)'),
    krb5_copy_ccache: lib.func('uint32 gss_krb5_copy_ccache(_Out_ uint32 *minor, void *cred, void *ccache)'),
    // the client side (krb5bridge submit --negotiate)
    import_name: lib.func('uint32 gss_import_name(_Out_ uint32 *minor, void *buffer, void *name_type, _Out_ void **name)'),
    init_sec_context: lib.func(
      'uint32 gss_init_sec_context(_Out_ uint32 *minor, void *cred, _Inout_ void **ctx, void *target, void *mech, uint32 req_flags, uint32 time_req, void *chan, void *input, void *actual_mech, void *output, _Out_ uint32 *ret_flags, void *time_rec)',
    ),
  };
}

let bound: ReturnType<typeof bind> | undefined;

/** The libgssapi_krb5 functions (loaded on first use). */
export function gss(): ReturnType<typeof bind> {
  bound ??= bind();
  return bound;
}

export type { Ptr };
