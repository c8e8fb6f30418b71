// Small TypeBox helpers for the JSON-schema shapes the API uses everywhere.
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/**
 * A string that must be one of `values`. Plain `enum` (not a union of literals) so a bad value
 * yields one clear error listing the allowed values instead of one error per literal.
 */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: Record<string, unknown> = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/**
 * `schema` or null, as one `type: [..., 'null']` schema so a wrong type yields one error. The
 * guide's Python example sends None for what it lacks; null means "leave the stored value".
 */
export function Nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const {
    type,
    enum: allowed,
    ...rest
  } = schema as unknown as {
    type: string;
    enum?: unknown[];
  } & Record<string, unknown>;
  return Type.Unsafe<Static<T> | null>({
    ...rest,
    type: [type, 'null'],
    ...(allowed ? { enum: [...allowed, null] } : {}),
  });
}

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
    ),
  },
  { description: 'RFC 9457 problem details' },
);

/** The ids the API accepts in paths: no whitespace, slashes or URL delimiters. */
export const ID_PATTERN = '^[A-Za-z0-9_.:@-]+$';
