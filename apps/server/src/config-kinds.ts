import { Type } from '@sinclair/typebox';

/** The two shapes most settings take: a non-negative integer and a boolean, each with a default. */
export const Int = (opts: { default: number; minimum?: number; maximum?: number; description: string }) =>
  Type.Integer({ minimum: 0, ...opts });
export const Bool = (def: boolean, description: string) => Type.Boolean({ default: def, description });
