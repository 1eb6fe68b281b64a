import { TributaryError, isTributaryError } from '../../errors.js';
import { parseLogQL, type CompiledQuery } from '../logql.js';
import { evaluateConstant, type Constant } from './constant.js';
import { parseLogQLTree } from './parse.js';
import { lineColumn } from './tokens.js';
import { firstUnsupported } from './unsupported.js';

/** A query the engine evaluates, or a constant expression (it reads no logs). */
export type Compiled = CompiledQuery | { readonly type: 'constant'; readonly value: Constant };

/**
 * Compiles LogQL: Tributary's evaluator takes the queries its parser
 * (logql.ts) accepts; one it refuses is parsed with Loki's full grammar
 * (parse.ts), so that a constant expression is still answered and a
 * feature not evaluated yet is named, with its position, instead of a
 * syntax error. A query invalid in both keeps the first parser's error.
 */
export function compileLogQL(source: string): Compiled {
  try {
    return parseLogQL(source);
  } catch (err) {
    if (!isTributaryError(err, 'E_QUERY_INVALID')) throw err;
    let tree;
    try {
      tree = parseLogQLTree(source);
    } catch {
      throw err;
    }
    const value = evaluateConstant(tree);
    if (value !== null) return { type: 'constant', value };
    const missing = firstUnsupported(tree);
    if (missing === null) throw err;
    throw new TributaryError('E_QUERY_INVALID', `logql ${lineColumn(source, missing.at)}: ${missing.feature} is not supported by Tributary yet`, {
      field: 'query',
      position: missing.at,
      feature: missing.feature,
    });
  }
}
