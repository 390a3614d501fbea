/**
 * A request that fails its JSON schema, said in one sentence that names the field: what fastify's
 * ajv reports (instancePath, keyword, params) turned into `unknown field "x"`, `missing field
 * "script"`, `field "cpus" must be integer`, `field "script" is longer than 1048576 characters`.
 */
export interface AjvError {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  message?: string;
  /** Set when the error is about an object's key (propertyNames), not its value. */
  propertyName?: string;
}

type Validation = Error & { validation?: AjvError[]; validationContext?: string };

function fieldName(path: string | undefined, extra?: unknown): string {
  const parts = (path ?? '').split('/').filter(Boolean);
  if (typeof extra === 'string') parts.push(extra);
  return parts.join('.');
}

export function validationMessage(e: Validation): string {
  const first = e.validation?.[0];
  const where = e.validationContext === 'querystring' ? 'query parameter' : e.validationContext === 'params' ? 'path parameter' : 'field';
  if (!first) return e.message;
  const p = first.params ?? {};
  const name = fieldName(first.instancePath);
  if (typeof first.propertyName === 'string') return `${where} "${name}" has a name that is not a variable name (letters, digits, _): "${first.propertyName.slice(0, 64)}"`;
  switch (first.keyword) {
    case 'additionalProperties':
      return `unknown ${where} "${fieldName(first.instancePath, p.additionalProperty)}"`;
    case 'required':
      return `missing ${where} "${fieldName(first.instancePath, p.missingProperty)}"`;
    case 'type':
      return name ? `${where} "${name}" must be ${String(p.type)}` : `the body must be a JSON ${String(p.type)}`;
    case 'maxLength':
      return `${where} "${name}" is longer than ${String(p.limit)} characters`;
    case 'minLength':
      return `${where} "${name}" is shorter than ${String(p.limit)} characters`;
    case 'pattern':
      return name === 'script' ? 'field "script" must start with "#!" (an interpreter line such as #!/bin/sh)' : `${where} "${name}" has a value of the wrong form (${String(p.pattern)})`;
    case 'enum':
      return `${where} "${name}" must be one of ${(p.allowedValues as unknown[] | undefined)?.join(', ') ?? 'the documented values'}`;
    default:
      return `${where} "${name}" ${first.message ?? 'is invalid'}`;
  }
}
