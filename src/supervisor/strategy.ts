/**
 * Which children restart when one fails (OTP semantics):
 * - one_for_one: only the failed child;
 * - one_for_all: every child (the others are stopped first);
 * - rest_for_one: the failed child and every child started after it.
 */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/** Indexes (in start order) of the children to restart when child `failed` fails. */
export function restartTargets(strategy: Strategy, childCount: number, failed: number): number[] {
  switch (strategy) {
    case 'one_for_one':
      return [failed];
    case 'one_for_all':
      return Array.from({ length: childCount }, (_, i) => i);
    case 'rest_for_one':
      return Array.from({ length: childCount - failed }, (_, i) => failed + i);
  }
}
