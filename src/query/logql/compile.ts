import { isTributaryError, type TributaryError } from '../../errors.js';
import { parseLogQL, type CompiledQuery } from '../logql.js';
import type { LogQuery } from '../model.js';
import type { LogExpr, MetricExpr, Stage } from './ast.js';
import { evaluateConstant, type Constant } from './constant.js';
import { parseLogQLTree } from './parse.js';
import { compileLabelFilter, compilePipeline } from './pipeline.js';
import { splitLog } from './plan.js';

/**
 * What a LogQL query compiles to: a log query the storage answers alone,
 * a log query with pipeline stages run on the shards, a metric expression
 * (evaluate.ts), a constant expression (it reads no logs), or a query in
 * Tributary's own spellings ({} and `| level >= WARN`, which Loki's grammar
 * does not have) that its own parser (logql.ts) takes.
 */
export type Compiled =
  | CompiledQuery
  | { readonly type: 'pipeline'; readonly query: Omit<LogQuery, 'from' | 'to'>; readonly stages: readonly Stage[] }
  | { readonly type: 'expr'; readonly expr: MetricExpr }
  | { readonly type: 'constant'; readonly value: Constant };

/** Compiles every pipeline in the expression, so a bad regex, template or pattern is a 400 here and not on a shard. */
function checkPipelines(e: MetricExpr | LogExpr): void {
  switch (e.kind) {
    case 'log':
      compilePipeline(e.pipeline);
      return;
    case 'range':
      compilePipeline(e.log.pipeline);
      for (const f of e.unwrap?.filters ?? []) compileLabelFilter(f);
      return;
    case 'vector':
    case 'labelReplace':
      return checkPipelines(e.inner);
    case 'binary':
      checkPipelines(e.left);
      checkPipelines(e.right);
      return;
    default:
      return;
  }
}

/**
 * Compiles LogQL with Loki's full grammar (parse.ts); a query that grammar
 * refuses is tried with Tributary's own parser. When both refuse, the
 * answer is the error of the one that read further.
 */
export function compileLogQL(source: string): Compiled {
  let tree;
  try {
    tree = parseLogQLTree(source);
  } catch (treeErr) {
    if (!isTributaryError(treeErr, 'E_QUERY_INVALID')) throw treeErr;
    try {
      return parseLogQL(source);
    } catch (ownErr) {
      // Both refuse: the error of the parser that read further says more (at a tie, the one saying what it expected).
      const at = (e: unknown) => Number((e as TributaryError).context?.position ?? -1);
      throw at(ownErr) >= at(treeErr) ? ownErr : treeErr;
    }
  }
  const value = evaluateConstant(tree);
  if (value !== null) return { type: 'constant', value };
  checkPipelines(tree);
  if (tree.kind !== 'log') return { type: 'expr', expr: tree };
  const split = splitLog(tree);
  if (split.stages.length === 0) return { type: 'log', query: split.query };
  return { type: 'pipeline', query: split.query, stages: split.stages };
}
